"""Token classification (NER): CoNLL column files in, entities with character offsets out.

* Tags are converted to BIO (IOB2) for training (CoNLL-2003 is IOB1); the tag list, "O" first, is
  saved in the bundle.
* First-subword labelling, sliding windows over long inputs and max-context read-back: `encode`.
* Document context (option `document_context`): the sentences of one document (CoNLL `-DOCSTART-`)
  are read as one stream of pieces, so a sentence sees its neighbours, as BERT's CoNLL result did
  with "maximal document context". Raw text (`predict`, the SavedModel) is read one text at a time.
* Word casing (option `case_features`, "auto" = on for uncased models): an uncased vocabulary
  lower-cases "Bush", "US" and "Apple" away; the head adds a learned embedding of each word's casing
  class (`words.case_ids`) to `sequence_output`.
* Scoring is entity-level P/R/F1 with conlleval semantics (`metrics`), on words.
Measured effects of both options: README and `benchmarks/results/tasks-conll-*.json`.
"""

from __future__ import annotations

import tensorflow as tf

from bertkit.core.config import TaskConfig
from bertkit.core.errors import BertkitError
from bertkit.data import Example, TokenExample
from bertkit.data.batching import LABEL_PAD
from bertkit.data.conll import entity_types, to_bio
from bertkit.modeling.heads import TokenHead
from bertkit.tasks.base import Output, ServingSignature, Task, TaskOption
from bertkit.tasks.ner.decode import chunk_entities, decode_tags
from bertkit.tasks.ner.encode import encode_words
from bertkit.tasks.ner.metrics import conll_metrics, predicted_entities
from bertkit.tasks.ner.words import CASES, join_words, split_words

CHUNK_SENTENCES = 512  # sentences per encode call (a document is never cut)
ON_OFF = ("on", "off")


def _tag_order(tag: str) -> tuple:
    return (tag != "O", tag[2:], tag[:1])  # O first, then by type, B before I


class NerTask(Task):
    name = "ner"
    metrics = ("f1", "precision", "recall", "accuracy")
    example_types = (TokenExample,)
    options = (
        TaskOption("stride", 0, "window stride in WordPieces for long inputs (0: half a window)"),
        TaskOption("case_features", "auto", "give the head each word's casing (auto: on for uncased models)",
                   ("auto", "on", "off")),
        TaskOption("document_context", "off", "read each sentence with its document's neighbours "
                   "(CoNLL -DOCSTART-)", ON_OFF),
    )

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
        return TaskConfig(task=cls.name, labels=labels, label_type="str", pooling=pooling,
                          head_dropout=head_dropout, extra={"scheme": "BIO", **options})

    @property
    def case_features(self) -> bool:
        choice = self.config.extra.get("case_features", "off")  # bundles from before the option: off
        choice = self.options[1].parse(choice)
        return choice == "on" or (choice == "auto" and self.preprocess.do_lower_case)

    def model_input_names(self):
        return super().model_input_names() + (("input_case_ids",) if self.case_features else ())

    def build_model(self, encoder):
        return TokenHead(encoder, len(self.config.labels), dropout=self.config.head_dropout,
                         case_classes=len(CASES) if self.case_features else 0)

    def loss(self, labels, logits):
        """Mean cross-entropy over each row's labelled positions: labels `[B, T]`, logits `[B, T, K]`."""
        mask = tf.cast(labels != LABEL_PAD, tf.float32)  # [B, T]
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=logits)  # [B, T]
        return tf.reduce_sum(ce * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)  # [B]

    def as_examples(self, inputs) -> list:
        """Raw strings (split into words in the graph), word lists, Examples or TokenExamples."""
        out = []
        for i, item in enumerate(inputs):
            if isinstance(item, (TokenExample, Example)):
                out.append(item)
            elif isinstance(item, str):
                out.append(Example(text_a=item, guid=f"input-{i}"))
            elif isinstance(item, (list, tuple)) and all(isinstance(w, str) for w in item):
                out.append(TokenExample(tuple(item), None, f"input-{i}"))
            else:
                raise BertkitError(f"predict: input {i} must be a text, a list of words or a TokenExample, "
                                   f"got {type(item).__name__}.")
        return out

    # ---- the graph path ---------------------------------------------------------------------------

    def chunks(self, examples, with_labels: bool):
        """Raw texts as `{"text"}`; pre-split sentences as `{"words", "group_splits"}` (+ `"tags"`), each
        chunk ending at a group (document) boundary."""
        examples = self.as_examples(examples)
        start = 0
        while start < len(examples):
            raw = isinstance(examples[start], Example)
            stop = start
            while stop < len(examples) and isinstance(examples[stop], Example) == raw and \
                    (stop - start < CHUNK_SENTENCES or self._joined(examples, stop)):
                stop += 1
            part = examples[start:stop]
            if raw:
                yield start, stop, {"text": tf.constant([e.text_a for e in part], tf.string)}
            else:
                yield start, stop, self._word_columns(part, with_labels)
            start = stop

    def _joined(self, examples, i: int) -> bool:
        """Whether example `i` continues the document of example `i - 1` (read together)."""
        e, prev = examples[i], examples[i - 1]
        return (self.option("document_context") == "on" and isinstance(prev, TokenExample)
                and e.document is not None and e.document == prev.document)

    def _word_columns(self, part, with_labels: bool) -> dict:
        starts = [i for i in range(len(part)) if i == 0 or not self._joined(part, i)]
        columns = {"words": tf.ragged.constant([list(e.words) for e in part], dtype=tf.string, ragged_rank=1),
                   "group_splits": tf.constant(starts + [len(part)], tf.int64)}
        if with_labels:
            index = {t: i for i, t in enumerate(self.config.labels)}
            columns["tags"] = tf.ragged.constant([self._tag_ids(e, index) for e in part], dtype=tf.int32,
                                                 ragged_rank=1)
        return columns

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

    def encode(self, columns: dict) -> dict:
        if "text" in columns:
            words = split_words(columns["text"])
            groups = tf.range(tf.size(columns["text"], out_type=tf.int64) + 1)  # each text alone
        else:
            words, groups = join_words(columns["words"]), columns["group_splits"]
        budget = max(1, self.preprocess.max_seq_length - self.tokenizer.template.specials(False))
        stride = int(self.config.extra.get("stride") or 0) or max(1, budget // 2)
        out = encode_words(self.tokenizer, words["words"], groups, budget=budget, stride=stride,
                           with_case=self.case_features, tags=columns.get("tags"))
        meta = {**words, "window": out["window"], "position": out["position"], "has_piece": out["has_piece"]}
        encoded = {"rows": out["rows"], "meta": meta}
        if "labels" in out:
            encoded["labels"] = out["labels"]
        return encoded

    def decode(self, outputs, meta: dict) -> dict:
        return decode_tags(outputs, meta, self.config.labels)

    def serving_signature(self) -> ServingSignature:
        k = len(self.config.labels)
        return ServingSignature(
            inputs=("text",),
            outputs={"words": Output("string [B, W], the words (padding '')", ""),
                     "word_start": Output("int32 [B, W], character offset of each word (padding -1)", -1),
                     "word_end": Output("int32 [B, W], character offset after each word (padding -1)", -1),
                     "tags": Output("string [B, W], the BIO tag of each word", ""),
                     "tag_probabilities": Output(f"float32 [B, W, {k}], in the order of `labels`", 0.0),
                     "entity_text": Output("string [B, E], the entities (padding '')", ""),
                     "entity_type": Output("string [B, E], their types", ""),
                     "entity_start": Output("int32 [B, E], character offsets (padding -1)", -1),
                     "entity_end": Output("int32 [B, E], character offsets, exclusive (padding -1)", -1),
                     "entity_score": Output("float32 [B, E], mean top tag probability over the entity's words",
                                            0.0)},
            info={"labels": list(self.config.labels), "entity_types": entity_types(self.config.labels),
                  "is_pair": False})

    # ---- answers ----------------------------------------------------------------------------------

    def gold(self, examples) -> dict:
        """Gold BIO tags and conlleval entities `(type, first word, end word)` per sentence."""
        index = {t: i for i, t in enumerate(self.config.labels)}
        ids = [self._tag_ids(e, index) for e in examples]
        sentence, first, stop, kind = chunk_entities(tf.ragged.constant(ids, dtype=tf.int64, ragged_rank=1),
                                                     self.config.labels)
        types = [""] + entity_types(self.config.labels)
        entities = [[] for _ in examples]
        for s, a, b, k in zip(sentence.numpy(), first.numpy(), stop.numpy(), kind.numpy()):
            entities[s].append((types[k], int(a), int(b)))
        return {"tags": [[self.config.labels[i] for i in row] for row in ids], "entities": entities}

    def scores(self, predictions: dict) -> list:
        return predictions["tag_probabilities"]  # per example [words, K]

    def compute_metrics(self, gold, predictions) -> dict:
        return conll_metrics(gold["tags"], [list(t) for t in predictions["tags"]], gold["entities"],
                             predicted_entities(predictions))

    def format_predictions(self, examples, predictions) -> list[dict]:
        """Per text: the entities with character offsets into it (and the per-word tags)."""
        out = []
        for i, e in enumerate(self.as_examples(examples)):
            entities = [{"text": text, "type": kind, "start": int(a), "end": int(b), "score": round(float(s), 6)}
                        for text, kind, a, b, s in zip(*(predictions[f"entity_{k}"][i]
                                                         for k in ("text", "type", "start", "end", "score")))]
            out.append({"text": e.text_a if isinstance(e, Example) else e.text, "entities": entities,
                        "words": list(predictions["words"][i]), "tags": list(predictions["tags"][i])})
        return out

    @classmethod
    def report_sections(cls, info, data, out):
        from bertkit.tasks.ner.report import ner_sections

        return ner_sections(info, data, out)

