"""Heads that sit on the encoder's seam outputs."""

from __future__ import annotations

import keras
import tensorflow as tf

from bertkit.dropout import Dropout


def masked_mean(sequence_output, input_mask):
    """Mean over real (mask=1) positions: `[B, T, H]`, `[B, T]` -> `[B, H]`."""
    mask = tf.cast(input_mask, sequence_output.dtype)[:, :, None]  # [B, T, 1]
    total = tf.reduce_sum(sequence_output * mask, axis=1)  # [B, H]
    return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="bertkit")
class PooledHead(keras.Model):
    """Encoder -> pooled vector -> dropout -> dense logits (float32 even under mixed precision).

    Args:
        encoder: a model mapping the three encoder inputs to `pooled_output` / `sequence_output`.
        units: output logits (1 for a sigmoid binary head).
        pooling: "cls" reads `pooled_output` (BERT's tanh pooler, the tutorial's choice); "mean" the
            masked mean of `sequence_output` (what sentence-transformers models were trained with).
        dropout: dropout rate before the dense layer.
    """

    def __init__(self, encoder, units: int, pooling: str = "cls", dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = Dropout(dropout)
        self.classifier = keras.layers.Dense(
            units, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02), dtype="float32",
            name="classifier")

    def call(self, inputs, training=False):
        out = self.encoder(inputs, training=training)
        if self.pooling == "mean":
            pooled = masked_mean(out["sequence_output"], inputs["input_mask"])  # [B, H]
        else:
            pooled = out["pooled_output"]  # [B, H]
        pooled = self.dropout(pooled, training=training)
        return self.classifier(tf.cast(pooled, tf.float32))  # [B, units]
