"""Sequence classification: single texts or pairs, binary (one sigmoid unit, as the tutorial) or
k-class (softmax). Reads the encoder's `pooled_output`, or a masked mean of `sequence_output`.

Option `symmetric` (pairs only, off by default): for a relation that does not depend on the order of
the two texts (paraphrase as MRPC, QQP; not entailment as RTE), every training pair is also seen
swapped, and a prediction is the mean of both orders' probabilities (the export does the same).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bertkit.config import TaskConfig
from bertkit.data import LabelVocab
from bertkit.errors import BertkitError
from bertkit.metrics import classification_metrics
from bertkit.tasks.base import Task, option_choice
from bertkit.tasks.heads import PooledHead
from bertkit.tasks.sentence_utils import detect_pair, run_pooled, sentence_dataset


class ClassifyTask(Task):
    name = "classify"
    option_defaults = {"symmetric": "off"}  # on: train on both orders of each pair, predict their mean

    @classmethod
    def configure(cls, train_examples, *, pooling: str, head_dropout: float, source: str, **options) -> TaskConfig:
        options = cls.resolve_options(options)
        vocab = LabelVocab.from_examples(train_examples)
        is_pair = detect_pair(train_examples, source)
        if option_choice("symmetric", options["symmetric"], ("on", "off")) == "on" and not is_pair:
            raise BertkitError(f"task option symmetric=on needs sentence pairs, but {source} has no text_b.")
        extra = {"symmetric": "on"} if options["symmetric"] == "on" else {}
        return TaskConfig(task=cls.name, labels=vocab.names, label_type=vocab.label_type, pooling=pooling,
                          head_dropout=head_dropout, is_pair=is_pair, extra=extra)

    @property
    def symmetric(self) -> bool:
        return self.config.is_pair and self.config.extra.get("symmetric") == "on"

    @property
    def vocab(self) -> LabelVocab:
        return LabelVocab.from_json({"labels": self.config.labels, "label_type": self.config.label_type})

    @property
    def num_labels(self) -> int:
        return len(self.config.labels)

    @property
    def binary(self) -> bool:
        return self.num_labels == 2

    def build_model(self, encoder) -> keras.Model:
        units = 1 if self.binary else self.num_labels  # the tutorial's single sigmoid unit
        return PooledHead(encoder, units, pooling=self.config.pooling, dropout=self.config.head_dropout)

    def label_ids(self, examples, source: str) -> np.ndarray:
        return self.vocab.encode(examples)  # [N]; names the file:line of an unknown label

    def make_dataset(self, examples, batch_size, *, training, seed=0, source="data", with_labels=True):
        labels = self.label_ids(examples, source) if with_labels else None
        if self.symmetric:  # rows [N] then the same pairs swapped [N]; predict_outputs averages the halves
            examples = list(examples) + [dataclasses.replace(e, text_a=e.text_b, text_b=e.text_a) for e in examples]
            labels = None if labels is None else np.concatenate([labels, labels])
        return sentence_dataset(self, examples, labels, batch_size, training=training, seed=seed, source=source,
                                label_dtype=np.int32)

    def loss(self, labels, logits):
        if self.binary:  # logits [B, 1]
            y = tf.cast(tf.expand_dims(labels, -1), tf.float32)
            return tf.squeeze(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits), -1)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)  # [B]

    def probabilities(self, logits) -> np.ndarray:
        """Per-class probabilities `[N, K]` from logits."""
        logits = np.asarray(logits, np.float64)
        if self.binary:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict_outputs(self, model, dataset):
        logits, gold = run_pooled(model, dataset, 1 if self.binary else self.num_labels)
        probs = self.probabilities(logits)  # [N, K], or [2N, K] for symmetric pairs
        if self.symmetric:
            n = len(probs) // 2
            probs, gold = (probs[:n] + probs[n:]) / 2, None if gold is None else gold[:n]
        return probs, gold

    def compute_metrics(self, gold, probs) -> dict[str, Any]:
        return classification_metrics(gold, probs, labels=list(self.config.labels))

    def format_predictions(self, examples, probs):
        out = []
        for e, p in zip(examples, probs):
            row = {"text": e.text_a}
            if e.text_b is not None:
                row["text_b"] = e.text_b
            row["label"] = self.config.labels[int(np.argmax(p))]
            row["probabilities"] = {name: round(float(q), 6) for name, q in zip(self.config.labels, p)}
            out.append(row)
        return out
