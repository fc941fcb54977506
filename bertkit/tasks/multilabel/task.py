"""Multi-label classification: any subset of K labels per text (or pair); one sigmoid per label on the
pooled output, a label is predicted when its probability exceeds `threshold` (option, default 0.5).

Labels: in JSONL a list (`"label": ["PER", "LOC"]`, `[]` for none); in CSV/TSV a cell of labels
separated by `|` (`PER|LOC`), or a JSON list (`[]` for none).

CoNLL input becomes multi-label data: each sentence -> the set of entity types it contains (PER,
LOC, ORG, MISC; the empty set when it has none), its text the words joined by spaces. So
`bertkit train --task multilabel --data conll2003` learns "which entity types does this sentence
mention" from real annotations.
"""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from bertkit.core.config import TaskConfig
from bertkit.core.errors import BertkitError
from bertkit.data import Example, TokenExample
from bertkit.data.conll import entity_types
from bertkit.tasks.base import Output, ServingSignature, TaskOption
from bertkit.tasks.sentence import SentenceTask, detect_pair


def from_conll(examples) -> list:
    """TokenExamples -> Examples labelled with their entity types; other examples unchanged."""
    return [Example(e.text, None, entity_types(e.tags) if e.tags is not None else None, e.guid)
            if isinstance(e, TokenExample) else e for e in examples]


def label_set(label, guid) -> list[str]:
    """A multi-label cell -> list of label names."""
    if label is None:
        raise BertkitError(f"{guid}: no label; multi-label rows need a list of labels ([] for none).")
    if isinstance(label, str):
        text = label.strip()
        if text.startswith("["):
            try:
                label = json.loads(text)
            except json.JSONDecodeError:
                raise BertkitError(f"{guid}: label {label!r} is not a JSON list.") from None
        else:
            return [x.strip() for x in text.split("|") if x.strip()]
    if isinstance(label, (list, tuple)) and all(isinstance(x, (str, int)) and not isinstance(x, bool)
                                                for x in label):
        return [str(x) for x in label]
    raise BertkitError(f"{guid}: label {label!r} is not a list of labels (e.g. [\"PER\", \"LOC\"] or \"PER|LOC\").")


def multilabel_metrics(gold: np.ndarray, chosen: np.ndarray, labels, threshold: float = 0.5) -> dict:
    """Micro and macro precision / recall / F1, subset accuracy and Hamming loss.

    Args:
        gold: `[N, K]` 0/1 targets.
        chosen: `[N, K]` booleans, the predicted labels (`decode`: probability > threshold).
        labels: K label names.
        threshold: recorded in the result.

    Returns:
        dict with n, num_labels, threshold, micro_* and macro_* (macro: unweighted mean over all K
        labels, 0 where undefined, as scikit-learn with zero_division=0), f1 (= micro_f1),
        subset_accuracy, hamming_loss and per_class {name: precision, recall, f1, support}.
    """
    y = np.asarray(gold) > 0.5
    pred = np.asarray(chosen, bool)
    tp, fp, fn = (y & pred).sum(0), (~y & pred).sum(0), (y & ~pred).sum(0)  # [K]

    def prf(t, f_p, f_n):
        p = np.divide(t, t + f_p, out=np.zeros(np.shape(t)), where=(t + f_p) > 0)
        r = np.divide(t, t + f_n, out=np.zeros(np.shape(t)), where=(t + f_n) > 0)
        f1 = np.divide(2 * p * r, p + r, out=np.zeros(np.shape(t)), where=(p + r) > 0)
        return p, r, f1

    mp, mr, mf = (float(x) for x in prf(tp.sum(), fp.sum(), fn.sum()))
    p, r, f = prf(tp.astype(float), fp.astype(float), fn.astype(float))
    return {
        "n": int(len(y)), "num_labels": int(y.shape[1]), "threshold": threshold,
        "f1": mf, "micro_precision": mp, "micro_recall": mr, "micro_f1": mf,
        "macro_precision": float(p.mean()), "macro_recall": float(r.mean()), "macro_f1": float(f.mean()),
        "subset_accuracy": float(np.mean(np.all(y == pred, axis=1))), "hamming_loss": float(np.mean(y != pred)),
        "per_class": {str(name): {"precision": float(p[k]), "recall": float(r[k]), "f1": float(f[k]),
                                  "support": int(y[:, k].sum())} for k, name in enumerate(labels)},
    }


class MultiLabelTask(SentenceTask):
    name = "multilabel"
    metrics = ("micro_f1", "macro_f1", "micro_precision", "micro_recall", "subset_accuracy")
    example_types = (Example,)
    options = (TaskOption("threshold", 0.5, "a label is predicted when its probability exceeds this"),)

    @classmethod
    def convert_examples(cls, examples) -> list:
        return from_conll(examples)

    @classmethod
    def configure(cls, train_examples, *, pooling, head_dropout, source, **options) -> TaskConfig:
        options = cls.resolve_options(options)
        names = set()
        for e in train_examples:
            names.update(label_set(e.label, e.guid))
        if not names:
            raise BertkitError(f"{source}: no example has any label; a multi-label task needs at least one.")
        return TaskConfig(task=cls.name, labels=tuple(sorted(names)), label_type="str", pooling=pooling,
                          head_dropout=head_dropout, is_pair=detect_pair(train_examples, source), extra=options)

    def as_examples(self, inputs) -> list:
        return super().as_examples(from_conll(list(inputs)))

    @property
    def units(self) -> int:
        return len(self.config.labels)

    @property
    def threshold(self) -> float:
        return float(self.config.extra["threshold"])

    def labels_of(self, examples) -> np.ndarray:
        """Multi-hot targets `[N, K]`; an unknown label names its row."""
        index = {name: k for k, name in enumerate(self.config.labels)}
        out = np.zeros((len(examples), len(index)), np.float32)
        for i, e in enumerate(examples):
            for name in label_set(e.label, e.guid):
                if name not in index:
                    raise BertkitError(f"{e.guid}: label {name!r} is not one of the training labels "
                                       f"{list(self.config.labels)}.")
                out[i, index[name]] = 1.0
        return out

    def loss(self, labels, logits):
        """Mean sigmoid cross-entropy over the K labels: `[B, K]` -> `[B]`."""
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=-1)

    def decode(self, outputs, meta: dict) -> dict:
        """logits `[B, K]` -> sigmoid `probabilities`, the `chosen` labels (probability > threshold) and
        their names joined by "|" (`labels`, bertkit's CSV form of a label set; "" for none)."""
        probabilities = tf.sigmoid(outputs)  # [B, K]
        chosen = probabilities > self.threshold  # [B, K]
        names = tf.broadcast_to(tf.constant(list(self.config.labels), tf.string), tf.shape(probabilities))
        labels = tf.strings.reduce_join(tf.ragged.boolean_mask(names, chosen), axis=1, separator="|")  # [B]
        return {"probabilities": probabilities, "labels": labels, "chosen": chosen}

    def serving_signature(self) -> ServingSignature:
        k = len(self.config.labels)
        return ServingSignature(
            inputs=self.input_names,
            outputs={"probabilities": Output(f"float32 [B, {k}], one sigmoid per label"),
                     "labels": Output(f"string [B], the labels with probability > {self.threshold} joined by '|'")},
            info={"labels": list(self.config.labels), "is_pair": self.config.is_pair, "threshold": self.threshold})

    def gold(self, examples) -> np.ndarray:
        return self.labels_of(examples)

    def scores(self, predictions: dict) -> np.ndarray:
        return predictions["probabilities"]  # [N, K]

    def compute_metrics(self, gold, predictions):
        return multilabel_metrics(gold, predictions["chosen"], self.config.labels, self.threshold)

    def format_row(self, predictions: dict, i: int) -> dict:
        probs, chosen = predictions["probabilities"][i], predictions["chosen"][i]
        return {"labels": [name for name, c in zip(self.config.labels, chosen) if c],
                "probabilities": {name: round(float(q), 6) for name, q in zip(self.config.labels, probs)}}
