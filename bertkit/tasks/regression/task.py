"""Regression (STS-B style): one real-valued score per text or text pair, a linear unit on the pooled
output trained with mean squared error.

Targets are standardised with the training mean and standard deviation (saved in the bundle), so
the head starts at the right scale whatever the range (0-5 for STS-B); predictions are mapped back.
Labels: numbers in JSONL, numeric cells in CSV/TSV. Scored with Pearson and Spearman correlation
(and MSE / MAE).

No shared data set carries real-valued human scores, so CoNLL input becomes a real scored set: each
sentence -> the number of named entities its gold annotation marks (0 to 20 on eng.train), its text
the words joined by spaces. `bertkit train --task regression --data conll2003` learns "how many
names does this sentence mention", a count read from real annotations.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from bertkit.core.config import TaskConfig
from bertkit.core.errors import BertkitError
from bertkit.data import Example, TokenExample
from bertkit.data.conll import to_bio
from bertkit.tasks.base import Output, ServingSignature
from bertkit.tasks.sentence import SentenceTask, detect_pair


def target(label, guid) -> float:
    """A label as a finite float; errors name the row."""
    if label is None:
        raise BertkitError(f"{guid}: no label; regression rows need a numeric label.")
    if isinstance(label, bool):
        raise BertkitError(f"{guid}: label {label!r} is a boolean, not a score.")
    try:
        value = float(label)
    except (TypeError, ValueError):
        raise BertkitError(f"{guid}: label {label!r} is not a number; regression needs numeric scores.") from None
    if not math.isfinite(value):
        raise BertkitError(f"{guid}: label {label!r} is not a finite number.")
    return value


def rankdata(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their average rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0  # mean of ranks start+1 .. end
            start = end
    return ranks


def pearson(a, b) -> float | None:
    """Pearson correlation; None when either side is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    da, db = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((da * da).sum()) * float((db * db).sum()))
    return float((da * db).sum() / denom) if denom > 0 else None


def regression_metrics(gold, pred) -> dict:
    """Pearson, Spearman (Pearson of average ranks), MSE, RMSE and MAE; n and notes."""
    gold, pred = np.asarray(gold, np.float64).reshape(-1), np.asarray(pred, np.float64).reshape(-1)
    if len(gold) != len(pred) or len(gold) == 0:
        raise ValueError(f"need equal non-empty gold and predictions, got {len(gold)} and {len(pred)}.")
    err = pred - gold
    out = {"n": int(len(gold)), "pearson": pearson(gold, pred), "spearman": pearson(rankdata(gold), rankdata(pred)),
           "mse": float(np.mean(err ** 2)), "rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}
    out["notes"] = ["correlations are undefined: the gold or the predicted scores are constant."] \
        if out["pearson"] is None else []
    return out


def entity_counts(examples) -> list:
    """TokenExamples -> Examples scored with their number of gold entities (in BIO every entity begins
    with its one B- tag); other examples unchanged."""
    return [Example(e.text, None, None if e.tags is None else sum(t.startswith("B-") for t in to_bio(e.tags)),
                    e.guid) if isinstance(e, TokenExample) else e for e in examples]


class RegressionTask(SentenceTask):
    name = "regression"
    metrics = ("pearson", "spearman")

    @classmethod
    def convert_examples(cls, examples) -> list:
        return entity_counts(examples)

    @classmethod
    def configure(cls, train_examples, *, pooling, head_dropout, source, **options) -> TaskConfig:
        cls.resolve_options(options)
        y = np.array([target(e.label, e.guid) for e in train_examples])
        if len(y) < 2 or y.std() == 0:
            raise BertkitError(f"{source}: the training scores are all {y[0] if len(y) else 'missing'}; "
                               "regression needs varying targets.")
        return TaskConfig(task=cls.name, labels=(), label_type="str", pooling=pooling, head_dropout=head_dropout,
                          is_pair=detect_pair(train_examples, source),
                          extra={"target_mean": float(y.mean()), "target_std": float(y.std())})

    @property
    def units(self) -> int:
        return 1

    def labels_of(self, examples) -> np.ndarray:
        """Standardised targets `[N]` (the head learns them; `decode` maps back)."""
        mean, std = self.config.extra["target_mean"], self.config.extra["target_std"]
        return np.array([(target(e.label, e.guid) - mean) / std for e in examples], np.float32)

    def loss(self, labels, outputs):
        return tf.square(outputs[:, 0] - labels)  # [B], on standardised targets

    def decode(self, outputs, meta: dict) -> dict:
        """`[B, 1]` -> `score` `[B]` in the training targets' units (float64)."""
        mean, std = float(self.config.extra["target_mean"]), float(self.config.extra["target_std"])
        # float32 arithmetic, float64 out: LiteRT has no float64 ADD / MUL kernels (the .tflite export).
        return {"score": tf.cast(outputs[:, 0] * std + mean, tf.float64)}

    def serving_signature(self) -> ServingSignature:
        return ServingSignature(inputs=self.input_names, outputs={"score": Output("float64 [B], the predicted score")},
                                info={"labels": [], "is_pair": self.config.is_pair})

    def gold(self, examples) -> np.ndarray:
        return np.array([target(e.label, e.guid) for e in examples], np.float64)

    def scores(self, predictions: dict) -> np.ndarray:
        return predictions["score"]  # [N]

    def compute_metrics(self, gold, predictions):
        return regression_metrics(gold, predictions["score"])

    def format_row(self, predictions: dict, i: int) -> dict:
        return {"score": round(float(predictions["score"][i]), 6)}
