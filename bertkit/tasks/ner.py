"""Token classification (NER): CoNLL column files in, entities with character offsets out.

* Tags are converted to BIO (IOB2) for training (CoNLL-2003 is IOB1); the tag list, "O" first, is
  saved in the bundle.
* First-subword labelling: each word's label sits on its first WordPiece; later pieces, [CLS],
  [SEP] and padding are ignored by the loss. Predictions are read back at first pieces, one tag per word.
* A sentence longer than `max_seq_length - 2` pieces is not cut: it is split into overlapping
  windows (stride: option `stride`, default half a window). Every window is trained on; at
  prediction each word takes the window where it has the most context on both sides, as the
  official SQuAD code does for document spans.
* Document context (option `document_context`, off by default): the sentences of one document
  (CoNLL `-DOCSTART-`) are read as one stream of pieces in those windows, so a sentence sees its
  neighbours ("Bush" as a person two sentences after "President George Bush"), as BERT's CoNLL
  result did with "maximal document context". Texts without a document (raw text to `predict`,
  the SavedModel export) are read alone. Measured with all-MiniLM-L6-v2 on CoNLL-2003 (5 epochs,
  batch 16, eng.testb): entity F1 0.879 with it, 0.884 without, so it is not the default.
* Scoring is entity-level P/R/F1 with conlleval semantics (`conll_metrics`), on words.
* Word casing (option `case_features`, on by default for uncased models): an uncased vocabulary
  lower-cases "Bush", "US" and "Apple" away; the head gets each word's casing class (`word_case`)
  as a learned embedding added to `sequence_output`. Measured on CoNLL-2003 (3,000 training
  sentences, 2 epochs, eng.testa): entity F1 0.752 -> 0.783, ORG 0.578 -> 0.653.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import tensorflow as tf

from bertkit.config import TaskConfig
from bertkit.data import Example, TokenExample
from bertkit.data.conll import to_bio
from bertkit.errors import BertkitError
from bertkit.tasks.base import Task, option_choice
from bertkit.tasks.conll_metrics import chunks, conll_metrics
from bertkit.batching import LABEL_PAD, FeatureSet, run_model, training_dataset
from bertkit.tasks.token_features import max_context_span, windows, word_pieces
from bertkit.tasks.token_heads import TokenHead


CASES = ("pad", "lower", "title", "upper", "mixed", "number", "other")  # word shapes, index = case id


def word_case(word: str) -> int:
    """The casing class of a word (an index into CASES): what an uncased vocabulary throws away and
    what tells "Bush" from "bush" and "US" from "us".

    By Unicode general category (letters L*, lower Ll, upper Lu, digits Nd), which RE2's \\p{..}
    classes name too, so the SavedModel export computes the same classes in the graph.
    """
    categories = [unicodedata.category(c) for c in word]
    letters = [c for c in categories if c[0] == "L"]
    if not letters:
        return CASES.index("number") if "Nd" in categories else CASES.index("other")
    if all(c == "Ll" for c in letters):
        return CASES.index("lower")
    if all(c == "Lu" for c in letters):
        return CASES.index("upper") if len(letters) > 1 else CASES.index("title")
    if letters[0] == "Lu" and all(c == "Ll" for c in letters[1:]):
        return CASES.index("title")
    return CASES.index("mixed")


def _tag_order(tag: str) -> tuple:
    return (tag != "O", tag[2:], tag[:1])  # O first, then by type, B before I


class NerTask(Task):
    name = "ner"
    example_types = (TokenExample,)
    # stride: window stride in WordPieces (0 = half a window). case_features: give the head each word's
    # casing (CASES), which an uncased encoder never sees; "auto" = on for uncased models.
    # document_context: read each sentence with its document's neighbouring sentences in the window
    # (the "maximal document context" of the BERT paper's CoNLL result), for sources with -DOCSTART-.
    # Off by default: with all-MiniLM-L6-v2 it did not help on CoNLL-2003 (testb F1 0.879 on, 0.884 off).
    option_defaults = {"stride": 0, "case_features": "auto", "document_context": "off"}

    @classmethod
    def configure(cls, train_examples, *, pooling, head_dropout, source, **options) -> TaskConfig:
        options = cls.resolve_options(options)
        tags = set()
        for e in train_examples:
            if e.tags is None:
                raise BertkitError(f"{e.guid}: no tags; NER training needs `word ... TAG` lines.")
            tags.update(to_bio(e.tags))
        if not tags - {"O"}:
            raise BertkitError(f"{source}: every training tag is O; there are no entities to learn.")
        labels = tuple(sorted(tags | {"O"}, key=_tag_order))
        option_choice("case_features", options["case_features"], ("auto", "on", "off"))
        option_choice("document_context", options["document_context"], ("on", "off"))
        return TaskConfig(task=cls.name, labels=labels, label_type="str", pooling=pooling,
                          head_dropout=head_dropout, extra={"scheme": "BIO", **options})

    @property
    def case_features(self) -> bool:
        choice = self.config.extra.get("case_features", "off")  # bundles from before the option: off
        choice = option_choice("case_features", choice, ("auto", "on", "off"))
        return choice == "on" or (choice == "auto" and self.preprocess.do_lower_case)

    def model_input_names(self):
        return super().model_input_names() + (("input_case_ids",) if self.case_features else ())

    def build_model(self, encoder):
        return TokenHead(encoder, len(self.config.labels), dropout=self.config.head_dropout,
                         case_classes=len(CASES) if self.case_features else 0)

    def as_examples(self, inputs) -> list[TokenExample]:
        """Raw strings (split on whitespace and punctuation), word lists, Examples or TokenExamples."""
        out = []
        for i, item in enumerate(inputs):
            if isinstance(item, TokenExample):
                out.append(item)
            elif isinstance(item, str):
                out.append(TokenExample.from_text(item, f"input-{i}"))
            elif isinstance(item, Example):
                out.append(TokenExample.from_text(item.text_a, item.guid))
            elif isinstance(item, (list, tuple)) and all(isinstance(w, str) for w in item):
                out.append(TokenExample(tuple(item), None, f"input-{i}"))
            else:
                raise BertkitError(f"predict: input {i} must be a text, a list of words or a TokenExample, "
                                   f"got {type(item).__name__}.")
        return out

    def _tag_ids(self, example: TokenExample, index: dict) -> list[int]:
        if example.tags is None:
            raise BertkitError(f"{example.guid}: no tags; evaluation needs `word ... TAG` lines.")
        ids = []
        for word, tag in zip(example.words, to_bio(example.tags)):
            if tag not in index:
                raise BertkitError(f"{example.guid}: tag {tag!r} (word {word!r}) is not one of the training tags "
                                   f"{list(self.config.labels)}.")
            ids.append(index[tag])
        return ids

    @property
    def document_context(self) -> bool:
        choice = self.config.extra.get("document_context", "off")  # bundles from before the option: off
        return option_choice("document_context", choice, ("on", "off")) == "on"

    def _groups(self, examples) -> list[range]:
        """Runs of example indices read as one sequence: consecutive sentences of one document with
        `document_context`, else each example alone."""
        joining = self.document_context
        groups: list[range] = []
        for i, e in enumerate(examples):
            if joining and groups and e.document is not None and examples[i - 1].document == e.document:
                groups[-1] = range(groups[-1].start, i + 1)
            else:
                groups.append(range(i, i + 1))
        return groups

    def featurize(self, examples, with_labels: bool) -> FeatureSet:
        """Windows of `[CLS] pieces [SEP]` with first-subword labels and each word's owning window.

        A group (one sentence, or with `document_context` the consecutive sentences of one document) is
        one stream of pieces cut into windows; `meta["owned"]` holds, at the first piece of each word
        its window owns, the word's index into all examples' words laid end to end.
        """
        examples = self.as_examples(examples)
        budget = self.preprocess.max_seq_length - 2
        stride = int(self.config.extra.get("stride") or 0) or max(1, budget // 2)
        all_words = [w for e in examples for w in e.words]
        pieces = word_pieces(self.tokenizer, all_words)  # per word [p_w]
        all_cases = [word_case(w) for w in all_words]
        index = {t: i for i, t in enumerate(self.config.labels)}
        all_tags = [t for e in examples for t in self._tag_ids(e, index)] if with_labels else None
        word_start = np.cumsum([0] + [len(e.words) for e in examples])  # [E + 1] first word of each example
        cls_id, sep_id = self.tokenizer.cls_id, self.tokenizer.sep_id
        word_ids, labels, owned, cases = [], [], [], []
        for group in self._groups(examples):
            lo, hi = word_start[group.start], word_start[group.stop]  # the group's words, all examples' numbering
            per_word = pieces[lo:hi]
            flat = np.concatenate(per_word + [np.zeros(0, np.int32)]).astype(np.int32)  # [P]
            flat_case = np.repeat(all_cases[lo:hi], [len(p) for p in per_word]).astype(np.int32)  # [P]
            first = np.cumsum([0] + [len(p) for p in per_word])[:-1]  # [W] first piece of each word
            has_piece = np.array([len(p) > 0 for p in per_word], bool)  # [W]
            spans = windows(len(flat), budget, stride)
            owner = {w: max_context_span(spans, first[w]) for w in np.nonzero(has_piece)[0]}
            for si, (start, length) in enumerate(spans):
                word_ids.append(np.concatenate([[cls_id], flat[start:start + length], [sep_id]]).astype(np.int32))
                cases.append(np.concatenate([[0], flat_case[start:start + length], [0]]).astype(np.int32))
                lab = np.full(length + 2, LABEL_PAD, np.int32)
                own = np.full(length + 2, -1, np.int32)
                for w in np.nonzero(has_piece & (first >= start) & (first < start + length))[0]:
                    pos = 1 + first[w] - start
                    if all_tags is not None:
                        lab[pos] = all_tags[lo + w]
                    if owner[w] == si:
                        own[pos] = lo + w
                labels.append(lab)
                owned.append(own)
        return FeatureSet(word_ids, [np.zeros(len(w), np.int32) for w in word_ids],
                          labels if with_labels else None, examples,
                          meta={"owned": owned, "word_start": word_start},
                          extra_inputs={"input_case_ids": cases} if self.case_features else {})

    def make_dataset(self, examples, batch_size, *, training, seed=0, source="data", with_labels=True):
        features = self.featurize(examples, with_labels)
        if training:
            return training_dataset(features, batch_size, seed)
        features.batch_size = batch_size
        return features

    def loss(self, labels, logits):
        """Mean cross-entropy over each example's labelled positions: labels `[B, T]`, logits `[B, T, K]`."""
        mask = tf.cast(labels != LABEL_PAD, tf.float32)  # [B, T]
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=logits)  # [B, T]
        return tf.reduce_sum(ce * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)  # [B]

    def predict_outputs(self, model, features: FeatureSet):
        """Word-level tag probabilities, one `[words, K]` array per example (words without any
        WordPiece, e.g. a lone control character, get "O"), and the gold BIO tags when labelled."""
        k = len(self.config.labels)
        word_start = features.meta["word_start"]
        flat = np.zeros((word_start[-1], k))  # [all words, K]
        flat[:, 0] = 1.0
        for index, logits, _ in run_model(model, features):
            for row, f in enumerate(index):
                own = features.meta["owned"][f]
                pos = np.nonzero(own >= 0)[0]
                z = logits[row, pos].astype(np.float64)  # [n, K]
                z = np.exp(z - z.max(axis=1, keepdims=True))
                flat[own[pos]] = z / z.sum(axis=1, keepdims=True)
        probs = np.split(flat, word_start[1:-1]) if len(features.examples) else []  # per example [words, K]
        gold = None
        if features.labels is not None:
            gold = [to_bio(e.tags) for e in features.examples]
        return probs, gold

    def tags(self, probs) -> list[list[str]]:
        return [[self.config.labels[i] for i in p.argmax(axis=1)] for p in probs]

    def compute_metrics(self, gold, probs):
        return conll_metrics(gold, self.tags(probs))

    def main_metric(self) -> str:
        return "f1"

    def format_predictions(self, examples, probs):
        """Per text: the entities with character offsets into it (and the per-word tags)."""
        out = []
        for e, p, tags in zip(self.as_examples(examples), probs, self.tags(probs)):
            entities = []
            for kind, first, end in chunks(tags):
                start, stop = e.offsets[first][0], e.offsets[end - 1][1]
                score = float(np.mean([p[w].max() for w in range(first, end)]))
                entities.append({"text": e.text[start:stop], "type": kind, "start": start, "end": stop,
                                 "score": round(score, 6)})
            out.append({"text": e.text, "entities": entities, "words": list(e.words), "tags": tags})
        return out
