"""Task heads on the encoder's seam outputs: a pooled vector (sentence tasks), per-token tags (NER) and
answer spans (QA). Each maps the encoder inputs to float32 outputs, even under mixed precision."""

from __future__ import annotations

import keras
import tensorflow as tf

from bertkit.modeling.dropout import Dropout
from bertkit.modeling.encoder import INPUT_NAMES


def masked_mean(sequence_output, input_mask):
    """Mean over real (mask=1) positions: `[B, T, H]`, `[B, T]` -> `[B, H]`."""
    # expand_dims, not [:, :, None]: LiteRT has no builtin kernel for a strided slice that adds axes.
    mask = tf.expand_dims(tf.cast(input_mask, sequence_output.dtype), -1)  # [B, T, 1]
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
        normalize: L2-normalise the pooled vector (sentence-transformers' Normalize; few-shot training).
    """

    def __init__(self, encoder, units: int, pooling: str = "cls", dropout: float = 0.1, normalize: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize
        self.dropout = Dropout(dropout)
        self.classifier = keras.layers.Dense(
            units, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02), dtype="float32",
            name="classifier")

    def embed(self, inputs, training=False):
        """The pooled (and maybe normalised) vector `[B, H]` float32 the classifier reads."""
        out = self.encoder({k: inputs[k] for k in INPUT_NAMES}, training=training)
        if self.pooling == "mean":
            pooled = masked_mean(out["sequence_output"], inputs["input_mask"])  # [B, H]
        else:
            pooled = out["pooled_output"]  # [B, H]
        pooled = tf.cast(pooled, tf.float32)
        return tf.math.l2_normalize(pooled, axis=-1) if self.normalize else pooled

    def call(self, inputs, training=False):
        pooled = self.dropout(self.embed(inputs, training=training), training=training)
        return self.classifier(pooled)  # [B, units]


PAD_LOGIT = -1e4  # span logits of padding positions: softmax gives them ~0


def _dense(units: int, name: str) -> keras.layers.Dense:
    return keras.layers.Dense(units, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                              dtype="float32", name=name)


@keras.saving.register_keras_serializable(package="bertkit")
class TokenHead(keras.Model):
    """Encoder -> sequence_output (+ word-casing embedding) -> dropout -> dense: logits `[B, T, units]`.

    Args:
        encoder: maps the three encoder inputs to `sequence_output` / `pooled_output`.
        units: number of tags.
        dropout: dropout rate before the dense layer.
        case_classes: when > 0, the model also takes `input_case_ids` `[B, T]` (each piece's word
            casing class) and adds a learned embedding of it to `sequence_output`: an uncased encoder
            cannot tell "Bush" from "bush", and casing is the strongest single cue for names.
    """

    def __init__(self, encoder, units: int, dropout: float = 0.1, case_classes: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.dropout = Dropout(dropout)
        self.classifier = _dense(units, "classifier")
        self.case_classes = case_classes
        if case_classes:
            # Unit scale, like the LayerNorm-ed hidden states it is added to: at fine-tuning learning
            # rates a 0.02-scale table barely moves from its start and stays invisible to the classifier.
            self.case_embedding = keras.layers.Embedding(
                case_classes, encoder.config.hidden_size, dtype="float32", name="case_embedding",
                embeddings_initializer=keras.initializers.TruncatedNormal(stddev=1.0))

    def call(self, inputs, training=False):
        out = self.encoder({k: inputs[k] for k in INPUT_NAMES}, training=training)
        x = tf.cast(out["sequence_output"], tf.float32)  # [B, T, H]
        if self.case_classes:
            x += self.case_embedding(inputs["input_case_ids"])  # [B, T, H]: each piece's word casing
        x = self.dropout(x, training=training)  # [B, T, H]
        return self.classifier(x)  # [B, T, units]


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
        mask = tf.expand_dims(tf.cast(inputs["input_mask"], tf.bool), -1)  # [B, T, 1] (LiteRT: see masked_mean)
        return tf.where(mask, logits, PAD_LOGIT)
