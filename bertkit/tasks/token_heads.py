"""Heads on the encoder's `sequence_output`: per-token tags (NER) and answer spans (QA)."""

from __future__ import annotations

import keras
import tensorflow as tf

from bertkit.batching import INPUT_NAMES

PAD_LOGIT = -1e4  # span logits of padding positions: softmax gives them ~0


def _dense(units: int, name: str) -> keras.layers.Dense:
    return keras.layers.Dense(units, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                              dtype="float32", name=name)


@keras.saving.register_keras_serializable(package="bertkit")
class TokenHead(keras.Model):
    """Encoder -> sequence_output -> dropout -> dense: logits `[B, T, units]` (float32).

    Args:
        encoder: maps the three encoder inputs to `sequence_output` / `pooled_output`.
        units: number of tags.
        dropout: dropout rate before the dense layer.
    """

    def __init__(self, encoder, units: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.dropout = keras.layers.Dropout(dropout)
        self.classifier = _dense(units, "classifier")

    def call(self, inputs, training=False):
        out = self.encoder({k: inputs[k] for k in INPUT_NAMES}, training=training)
        x = self.dropout(out["sequence_output"], training=training)  # [B, T, H]
        return self.classifier(tf.cast(x, tf.float32))  # [B, T, units]


@keras.saving.register_keras_serializable(package="bertkit")
class SpanHead(keras.Model):
    """Encoder -> sequence_output -> dense(2): start and end logits `[B, T, 2]` (float32), as BERT's
    SQuAD head (no dropout); padding positions get PAD_LOGIT."""

    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.span = _dense(2, "span")

    def call(self, inputs, training=False):
        out = self.encoder({k: inputs[k] for k in INPUT_NAMES}, training=training)
        logits = self.span(tf.cast(out["sequence_output"], tf.float32))  # [B, T, 2]
        mask = tf.cast(inputs["input_mask"], tf.bool)[:, :, None]  # [B, T, 1]
        return tf.where(mask, logits, PAD_LOGIT)
