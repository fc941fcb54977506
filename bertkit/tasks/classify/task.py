"""Sequence classification: single texts or pairs, binary (one sigmoid unit, as the tutorial) or
k-class (softmax). Reads the encoder's `pooled_output`, or a masked mean of `sequence_output`.

Option `symmetric` (pairs only, off by default): for a relation that does not depend on the order of
the two texts (paraphrase as MRPC, QQP; not entailment as RTE), every pair is read in both orders,
in training and in prediction, and a prediction is the mean of both orders' probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from bertkit.core.config import TaskConfig
from bertkit.core.errors import BertkitError
from bertkit.data import LabelVocab
from bertkit.metrics import classification_metrics
from bertkit.tasks.base import Output, ServingSignature, TaskOption
from bertkit.modeling.heads import PooledHead
from bertkit.tasks.sentence import SentenceTask, detect_pair


class ClassifyTask(SentenceTask):
    name = "classify"
    metrics = ("accuracy", "f1", "precision", "recall", "auc", "mcc")
    options = (TaskOption("symmetric", "off", "pairs only: read each pair in both orders and predict their "
                          "mean (for order-free relations such as paraphrase)", ("on", "off")),
               TaskOption("normalize", "off", "L2-normalise the pooled vector before the head (few-shot training "
                          "turns it on)", ("on", "off")))
    label_dtype = tf.int32

    @classmethod
    def configure(cls, train_examples, *, pooling: str, head_dropout: float, source: str, **options) -> TaskConfig:
        options = cls.resolve_options(options)
        vocab = LabelVocab.from_examples(train_examples)
        is_pair = detect_pair(train_examples, source)
        if options["symmetric"] == "on" and not is_pair:
            raise BertkitError(f"task option symmetric=on needs sentence pairs, but {source} has no text_b.")
        extra = {k: v for k, v in options.items() if v != "off"}  # bundles record what is on
        return TaskConfig(task=cls.name, labels=vocab.names, label_type=vocab.label_type, pooling=pooling,
                          head_dropout=head_dropout, is_pair=is_pair, extra=extra)

    @property
    def symmetric(self) -> bool:
        return self.config.is_pair and self.option("symmetric") == "on"

    @property
    def vocab(self) -> LabelVocab:
        return LabelVocab.from_json({"labels": self.config.labels, "label_type": self.config.label_type})

    @property
    def binary(self) -> bool:
        return len(self.config.labels) == 2

    @property
    def units(self) -> int:
        return 1 if self.binary else len(self.config.labels)  # the tutorial's single sigmoid unit

    def labels_of(self, examples) -> np.ndarray:
        return self.vocab.encode(examples)  # [N]; names the file:line of an unknown label

    def build_model(self, encoder):
        return PooledHead(encoder, self.units, pooling=self.config.pooling, dropout=self.config.head_dropout,
                          normalize=self.option("normalize") == "on")

    def loss(self, labels, logits):
        if self.binary:  # logits [B, 1]
            y = tf.cast(tf.expand_dims(labels, -1), tf.float32)
            return tf.squeeze(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits), -1)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)  # [B]

    def encode(self, columns: dict) -> dict:
        if self.symmetric:  # rows [B] as given, then [B] swapped; decode averages the halves
            a, b = columns["text"], columns["text_b"]
            columns = {**columns, "text": tf.concat([a, b], 0), "text_b": tf.concat([b, a], 0)}
            if "label" in columns:
                columns["label"] = tf.concat([columns["label"], columns["label"]], 0)
        return super().encode(columns)

    def decode(self, outputs, meta: dict) -> dict:
        """logits `[R, units]` -> `probabilities` `[B, K]` and the most probable `label` `[B]`."""
        if self.binary:
            p = tf.sigmoid(outputs[:, 0])  # [R]
            probabilities = tf.stack([1.0 - p, p], axis=1)  # [R, 2]
        else:
            probabilities = tf.nn.softmax(outputs, axis=-1)  # [R, K]
        if self.symmetric:
            n = tf.shape(probabilities)[0] // 2
            probabilities = (probabilities[:n] + probabilities[n:]) / 2
        labels = tf.constant(list(self.config.labels), tf.string)
        return {"probabilities": probabilities, "label": tf.gather(labels, tf.argmax(probabilities, axis=1))}

    def serving_signature(self) -> ServingSignature:
        return ServingSignature(
            inputs=self.input_names,
            outputs={"probabilities": Output(f"float32 [B, {len(self.config.labels)}], in the order of `labels`"),
                     "label": Output("string [B], the most probable label")},
            info={"labels": list(self.config.labels), "is_pair": self.config.is_pair})

    def gold(self, examples) -> np.ndarray:
        return self.labels_of(examples)

    def scores(self, predictions: dict) -> np.ndarray:
        return predictions["probabilities"]  # [N, K]

    def compute_metrics(self, gold, predictions) -> dict[str, Any]:
        return classification_metrics(gold, predictions["probabilities"], labels=list(self.config.labels))

    def format_row(self, predictions: dict, i: int) -> dict:
        probs = predictions["probabilities"][i]
        return {"label": predictions["label"][i],
                "probabilities": {name: round(float(q), 6) for name, q in zip(self.config.labels, probs)}}

    @classmethod
    def report_sections(cls, info, data, out):
        from bertkit.tasks.classify.report import classify_sections

        return classify_sections(info, data, out)
