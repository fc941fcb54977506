"""Extractive question answering (SQuAD v1.1): a start and an end logit per token on
`sequence_output`, windows over long contexts (`encode`), n-best span decoding (`decode`), answers as
character spans of the original context. Scored with the official v1.1 EM / F1 (`metrics`).

Data: SQuAD JSON (`train-*.json` + `dev-*.json`, or one file). A dataset folder with only a dev
file, like shared/data/squad, is split by article (`bertkit.data.squad.split_by_article`: 30% of the
articles, chosen by the SHA-256 of their titles, are held out); `evaluate --data` on that folder
scores the held-out articles. Prediction takes `(question, context)` pairs, SQuAD JSON or JSONL
rows `{"question", "context"}`.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from bertkit.core.config import TaskConfig
from bertkit.core.errors import BertkitError
from bertkit.data import Example, QAExample, locate_splits, read_examples, resolve_data, sample_examples
from bertkit.data.squad import read_qa_jsonl, read_squad, split_by_article
from bertkit.modeling.heads import SpanHead
from bertkit.tasks.base import Output, ServingSignature, Task, TaskOption, contiguous_chunks
from bertkit.tasks.qa.decode import decode_qa
from bertkit.tasks.qa.encode import encode_qa
from bertkit.tasks.qa.metrics import squad_metrics

CHUNK_QUESTIONS = 128  # questions per encode call
NO_ANSWER = {"text": "", "start": 0, "end": 0, "score": 0.0, "probability": 1.0}


def _article_split_source(spec) -> Path | None:
    """The single SQuAD file of a folder / dataset name that has no training file, else None."""
    if Path(spec).is_file():
        return None
    paths = locate_splits(spec)
    if paths["train"] is not None:
        return None
    return paths["test"] or paths["dev"]


def read_qa_file(path) -> list[QAExample]:
    """SQuAD JSON or JSONL question/context rows."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return read_qa_jsonl(path)
    if path.suffix.lower() == ".json":
        return read_squad(path)
    raise BertkitError(f"{path}: QA data must be SQuAD .json or .jsonl rows with question and context.")


class QATask(Task):
    name = "qa"
    metrics = ("f1", "exact_match")
    example_types = (QAExample,)
    options = (
        TaskOption("doc_stride", 128, "pieces between the starts of a long context's windows"),
        TaskOption("max_query_length", 64, "question pieces kept"),
        TaskOption("n_best", 20, "answers kept per question (and start / end candidates per window)"),
        TaskOption("max_answer_length", 30, "longest answer, in pieces"),
    )

    @classmethod
    def read_data(cls, spec, *, train_samples, test_samples, seed):
        single = _article_split_source(spec)
        if single is None:
            return super().read_data(spec, train_samples=train_samples, test_samples=test_samples, seed=seed)
        examples = read_examples(single)
        cls.check_examples(examples, str(single))
        train_all, test_all, held = split_by_article(examples)
        train = sample_examples(train_all, train_samples, seed)
        test = sample_examples(test_all, test_samples, seed)
        n_articles = len({e.title for e in examples})
        description = (f"{spec}: {single} split by article (SHA-256 of the title): train {n_articles - len(held)} "
                       f"articles, {len(train_all):,} questions (used {len(train):,}); held out {len(held)} articles, "
                       f"{len(test_all):,} questions (used {len(test):,}); seed {seed}")
        return train, test, description

    @classmethod
    def configure(cls, train_examples, *, pooling, head_dropout, source, **options) -> TaskConfig:
        options = cls.resolve_options(options)
        unlabelled = next((e for e in train_examples if not e.answers), None)
        if unlabelled is not None:
            raise BertkitError(f"{unlabelled.guid}: no answer; QA training needs an answer for every question.")
        return TaskConfig(task=cls.name, labels=(), label_type="str", pooling=pooling, head_dropout=head_dropout,
                          is_pair=True, extra=options)

    def read_eval_data(self, data, samples, seed):
        single = _article_split_source(data) if not Path(data).is_file() else None
        if single is not None:
            _, examples, held = split_by_article(read_qa_file(single))
            source = f"{single} (the {len(held)} held-out articles)"
        else:
            path = Path(data) if Path(data).is_file() else resolve_data(str(data), "test")
            if path is None:
                raise BertkitError(f"{data}: no test or dev split found to evaluate on; pass a file with --data.")
            examples, source = read_qa_file(path), str(path)
        unlabelled = next((e for e in examples if not e.answers), None)
        if unlabelled is not None:
            raise BertkitError(f"{unlabelled.guid}: no answers to evaluate against.")
        return sample_examples(examples, samples, seed), source

    def read_predict_inputs(self, path):
        return read_qa_file(path)

    def as_examples(self, inputs) -> list[QAExample]:
        """`QAExample`s, `(question, context)` pairs, dicts with question / context, or Examples
        (text_a = question, text_b = context)."""
        out = []
        for i, item in enumerate(inputs):
            if isinstance(item, QAExample):
                out.append(item)
            elif isinstance(item, Example) and item.text_b is not None:
                out.append(QAExample(item.guid or f"input-{i}", item.text_a, item.text_b, guid=item.guid))
            elif isinstance(item, dict) and {"question", "context"} <= set(item):
                out.append(QAExample(str(item.get("id", f"input-{i}")), item["question"], item["context"],
                                     guid=f"input-{i}"))
            elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
                out.append(QAExample(f"input-{i}", item[0], item[1], guid=f"input-{i}"))
            else:
                raise BertkitError(f"predict: QA input {i} must be a (question, context) pair, got "
                                   f"{type(item).__name__}; on the command line use --question and --context.")
        return out

    def build_model(self, encoder):
        return SpanHead(encoder)

    def loss(self, labels, logits):
        """Mean of the start and end cross-entropies: labels `[B, 2]`, logits `[B, T, 2]`."""
        start = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels[:, 0], logits=logits[:, :, 0])
        end = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels[:, 1], logits=logits[:, :, 1])
        return (start + end) / 2.0  # [B]

    # ---- the graph path ---------------------------------------------------------------------------

    def chunks(self, examples, with_labels: bool):
        examples = self.as_examples(examples)
        opts = self.config.extra
        if self.preprocess.max_seq_length < opts["max_query_length"] + self.tokenizer.template.specials(True) + 16:
            raise BertkitError(f"max_seq_length {self.preprocess.max_seq_length} leaves too little room for the "
                               f"context after a question of up to {opts['max_query_length']} pieces; use 384 "
                               f"(or 256), or lower the max_query_length option.")
        if with_labels:
            unlabelled = next((e for e in examples if not e.answers), None)
            if unlabelled is not None:
                raise BertkitError(f"{unlabelled.guid}: no answers; labelled QA data needs them.")
        for start, stop in contiguous_chunks(len(examples), CHUNK_QUESTIONS):
            part = examples[start:stop]
            columns = {"question": tf.constant([e.question for e in part], tf.string),
                       "context": tf.constant([e.context for e in part], tf.string)}
            if with_labels:  # training uses the first answer: its character span in the context
                columns["answer_start"] = tf.constant([e.answers[0][1] for e in part], tf.int64)
                columns["answer_end"] = tf.constant([e.answers[0][1] + len(e.answers[0][0]) for e in part], tf.int64)
            yield start, stop, columns

    def encode(self, columns: dict) -> dict:
        opts = self.config.extra
        return encode_qa(self.tokenizer, columns["question"], columns["context"],
                         max_seq_length=self.preprocess.max_seq_length, max_query_length=int(opts["max_query_length"]),
                         doc_stride=int(opts["doc_stride"]), answer_start=columns.get("answer_start"),
                         answer_end=columns.get("answer_end"))

    def decode(self, outputs, meta: dict) -> dict:
        opts = self.config.extra
        return decode_qa(outputs, meta, n_best=int(opts["n_best"]), max_answer_length=int(opts["max_answer_length"]))

    def serving_signature(self) -> ServingSignature:
        n = int(self.config.extra["n_best"])
        return ServingSignature(
            inputs=("question", "context"),
            outputs={"answer": Output("string [B], the best answer from the context ('' if none)"),
                     "start": Output("int32 [B], its character offset in the context"),
                     "end": Output("int32 [B], its character offset in the context, exclusive"),
                     "score": Output("float32 [B], start + end logit"),
                     "probability": Output("float32 [B], softmax of the score over the n-best answers"),
                     "n_best_text": Output(f"string [B, {n}], distinct answers, best first (padding '')", "", n),
                     "n_best_start": Output(f"int32 [B, {n}] (padding -1)", -1, n),
                     "n_best_end": Output(f"int32 [B, {n}] (padding -1)", -1, n),
                     "n_best_score": Output(f"float32 [B, {n}] (padding 0)", 0.0, n),
                     "n_best_probability": Output(f"float32 [B, {n}] (padding 0)", 0.0, n)},
            info={"labels": [], "is_pair": True, "n_best": n})

    # ---- answers ----------------------------------------------------------------------------------

    def gold(self, examples) -> list[list[str]]:
        return [[text for text, _ in e.answers] for e in examples]

    def scores(self, predictions: dict) -> list[list[dict]]:
        """Per question its n-best answers (dicts: text, start, end, score, probability), best first."""
        out = []
        for i in range(len(predictions["answer"])):
            fields = zip(*(predictions[f"n_best_{k}"][i] for k in ("text", "start", "end", "score", "probability")))
            nbest = [{"text": t, "start": int(a), "end": int(b), "score": float(s), "probability": float(p)}
                     for t, a, b, s, p in fields]
            out.append(nbest or [dict(NO_ANSWER)])
        return out

    def compute_metrics(self, gold, predictions):
        return squad_metrics(gold, list(predictions["answer"]))

    def format_predictions(self, examples, predictions):
        out = []
        for e, nbest in zip(self.as_examples(examples), self.scores(predictions)):
            best = nbest[0]
            out.append({"id": e.qid, "question": e.question, "answer": best["text"], "start": best["start"],
                        "end": best["end"], "score": round(best["score"], 6),
                        "probability": round(best["probability"], 6),
                        "n_best": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in a.items()}
                                   for a in nbest[:5]]})
        return out

    @classmethod
    def report_sections(cls, info, data, out):
        from bertkit.tasks.qa.report import qa_sections

        return qa_sections(info, data, out)
