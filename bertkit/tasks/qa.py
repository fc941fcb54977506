"""Extractive question answering (SQuAD v1.1): a start and an end logit per token on
`sequence_output`, windows over long contexts, n-best span decoding, answers as character spans of
the original context (see `qa_features`). Scored with the official v1.1 EM / F1 (`squad_metrics`).

Data: SQuAD JSON (`train-*.json` + `dev-*.json`, or one file). A dataset folder with only a dev
file, like shared/data/squad, is split by article (`bertkit.data.squad.split_by_article`: 30% of the
articles, chosen by the SHA-256 of their titles, are held out); `evaluate --data` on that folder
scores the held-out articles. Prediction takes `(question, context)` pairs, SQuAD JSON or JSONL
rows `{"question", "context"}`.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from bertkit.config import TaskConfig
from bertkit.data import Example, QAExample, locate_splits, read_examples, resolve_data, sample_examples
from bertkit.data.squad import read_qa_jsonl, read_squad, split_by_article
from bertkit.errors import BertkitError
from bertkit.tasks.base import Task
from bertkit.tasks.qa_features import best_spans, decode, qa_features
from bertkit.tasks.squad_metrics import squad_metrics
from bertkit.batching import FeatureSet, run_model, training_dataset
from bertkit.tasks.token_heads import SpanHead


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
    example_types = (QAExample,)
    option_defaults = {"doc_stride": 128, "max_query_length": 64, "n_best": 20, "max_answer_length": 30}

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

    def make_dataset(self, examples, batch_size, *, training, seed=0, source="data", with_labels=True):
        examples = self.as_examples(examples)
        opts = self.config.extra
        if self.preprocess.max_seq_length < opts["max_query_length"] + 3 + 16:
            raise BertkitError(f"max_seq_length {self.preprocess.max_seq_length} leaves too little room for the "
                               f"context after a question of up to {opts['max_query_length']} pieces; use 384 "
                               f"(or 256), or lower the max_query_length option.")
        if with_labels:
            unlabelled = next((e for e in examples if not e.answers), None)
            if unlabelled is not None:
                raise BertkitError(f"{unlabelled.guid}: no answers; labelled QA data needs them.")
        features = qa_features(examples, self.tokenizer, self.preprocess.max_seq_length,
                               max_query_length=opts["max_query_length"], doc_stride=opts["doc_stride"],
                               with_labels=with_labels)
        if training:
            return training_dataset(features, batch_size, seed)
        features.batch_size = batch_size
        return features

    def loss(self, labels, logits):
        """Mean of the start and end cross-entropies: labels `[B, 2]`, logits `[B, T, 2]`."""
        start = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels[:, 0], logits=logits[:, :, 0])
        end = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels[:, 1], logits=logits[:, :, 1])
        return (start + end) / 2.0  # [B]

    def predict_outputs(self, model, features: FeatureSet):
        """Per question its n-best answers (dicts: text, start, end, score, probability), and the gold
        answer texts when labelled."""
        meta, opts = features.meta, self.config.extra
        per_example: list[list] = [[] for _ in features.examples]
        for index, logits, _ in run_model(model, features):
            for row, f in enumerate(index):
                off, length = meta["doc_offset"][f], meta["span_length"][f]
                per_example[meta["example"][f]].append(
                    (logits[row, off:off + length, 0], logits[row, off:off + length, 1], meta["span_start"][f],
                     meta["max_context"][f]))
        predictions = []
        for e, wins in zip(features.examples, per_example):
            candidates = best_spans(wins, opts["n_best"], opts["max_answer_length"])
            predictions.append(decode(e.context, meta["contexts"][e.context], candidates, opts["n_best"]))
        gold = [[text for text, _ in e.answers] for e in features.examples] if features.labels is not None else None
        return predictions, gold

    def compute_metrics(self, gold, predictions):
        return squad_metrics(gold, [p[0]["text"] for p in predictions])

    def main_metric(self) -> str:
        return "f1"

    def format_predictions(self, examples, predictions):
        out = []
        for e, nbest in zip(self.as_examples(examples), predictions):
            best = nbest[0]
            out.append({"id": e.qid, "question": e.question, "answer": best["text"], "start": best["start"],
                        "end": best["end"], "score": round(best["score"], 6),
                        "probability": round(best["probability"], 6),
                        "n_best": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in a.items()}
                                   for a in nbest[:5]]})
        return out

