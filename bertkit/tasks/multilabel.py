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

from bertkit.config import TaskConfig
from bertkit.data import Example, TokenExample
from bertkit.data.conll import entity_types
from bertkit.errors import BertkitError
from bertkit.tasks.base import Task
from bertkit.tasks.heads import PooledHead
from bertkit.tasks.sentence_utils import detect_pair, run_pooled, sentence_dataset


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


def multilabel_metrics(gold: np.ndarray, probs: np.ndarray, labels, threshold: float = 0.5) -> dict:
    """Micro and macro precision / recall / F1, subset accuracy and Hamming loss.

    Args:
        gold: `[N, K]` 0/1 targets.
        probs: `[N, K]` probabilities; a label is predicted when its probability > threshold.
        labels: K label names.

    Returns:
        dict with n, num_labels, threshold, micro_* and macro_* (macro: unweighted mean over all K
        labels, 0 where undefined, as scikit-learn with zero_division=0), f1 (= micro_f1),
        subset_accuracy, hamming_loss and per_class {name: precision, recall, f1, support}.
    """
    y = np.asarray(gold) > 0.5
    pred = np.asarray(probs) > threshold
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


class MultiLabelTask(Task):
    name = "multilabel"
    example_types = (Example,)
    option_defaults = {"threshold": 0.5}

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

    def targets(self, examples) -> np.ndarray:
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

    def build_model(self, encoder):
        return PooledHead(encoder, len(self.config.labels), pooling=self.config.pooling,
                          dropout=self.config.head_dropout)

    def make_dataset(self, examples, batch_size, *, training, seed=0, source="data", with_labels=True):
        examples = self.as_examples(examples)
        labels = self.targets(examples) if with_labels else None
        return sentence_dataset(self, examples, labels, batch_size, training=training, seed=seed, source=source)

    def loss(self, labels, logits):
        """Mean sigmoid cross-entropy over the K labels: `[B, K]` -> `[B]`."""
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=-1)

    def predict_outputs(self, model, dataset):
        logits, gold = run_pooled(model, dataset, len(self.config.labels))
        return 1.0 / (1.0 + np.exp(-logits)), gold  # [N, K] probabilities

    def compute_metrics(self, gold, probs):
        return multilabel_metrics(gold, probs, self.config.labels, float(self.config.extra["threshold"]))

    def main_metric(self) -> str:
        return "micro_f1"

    def format_predictions(self, examples, probs):
        threshold = float(self.config.extra["threshold"])
        out = []
        for e, p in zip(self.as_examples(examples), probs):
            row = {"text": e.text_a}
            if e.text_b is not None:
                row["text_b"] = e.text_b
            row["labels"] = [name for name, q in zip(self.config.labels, p) if q > threshold]
            row["probabilities"] = {name: round(float(q), 6) for name, q in zip(self.config.labels, p)}
            out.append(row)
        return out
