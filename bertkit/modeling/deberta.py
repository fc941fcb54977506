"""DeBERTa-v2 / v3 (Hugging Face `model_type` "deberta-v2") with the TF Hub seam names.

What differs from BERT: no absolute positions (DeBERTa-v3) and no token types; padded positions' embeddings
are zeroed; attention is disentangled: besides content-to-content it scores content-to-position and
position-to-content against a table of relative-position embeddings (layer-normed once, shared by all
layers, projected with each layer's own query and key projections), with log-spaced buckets for far
distances; all three terms share one 1/sqrt(3 d) scale. No pooler: `pooled_output` is the first
position's vector. Only the v3 layout is built (share_att_key, pos_att_type p2c|c2p, no conv layer).

Variable paths: `embeddings/word_embeddings` [V, E], `embeddings/projection/kernel` [E, H] (E != H),
`embeddings/layer_norm/{gamma,beta}`, `rel_embeddings` [2S, H], `rel_layer_norm/{gamma,beta}`, and per layer
BERT's (`layer_{i}/attention/{query,key,value,output}/...`, `..._layer_norm`, `intermediate`, `output`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from bertkit.core.config import EncoderConfig
from bertkit.modeling.dropout import Dropout
from bertkit.modeling.encoder import (INPUT_NAMES, MASK_NEGATIVE, FirstToken, SeamEncoder, SelfAttention,
                                      TransformerBlock, _layer_norm, _project)


def log_bucket_positions(span: int, max_relative: int, max_distance_seen: int) -> tf.Tensor:
    """DeBERTa's bucketed relative position of every query-minus-key distance in -D..D, with
    transformers' float32 arithmetic (`make_log_bucket_position`)."""
    r = np.arange(-max_distance_seen, max_distance_seen + 1)
    mid = span // 2
    f = np.float32
    abs_pos = np.where((r < mid) & (r > -mid), mid - 1, np.abs(r))
    log_pos = np.ceil(np.log(abs_pos.astype(f) / f(mid)) / np.log(f((max_relative - 1) / mid)) * f(mid - 1)) + mid
    return tf.constant(np.where(abs_pos <= mid, r, log_pos * np.sign(r)).astype(np.int32))


class DebertaEmbeddings(keras.layers.Layer):
    """Word embeddings (projected if E != H), LayerNorm, zero on padding, dropout. Runs in float32."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.config = config
        self.layer_norm = _layer_norm(config, "layer_norm")
        self.dropout = Dropout(config.dropout, dtype="float32")

    def build(self, word_ids_shape):
        c = self.config
        self.size = c.embedding_size or c.hidden_size
        init = keras.initializers.TruncatedNormal(stddev=c.initializer_range)
        self.word_embeddings = self.add_weight(shape=(c.vocab_size, self.size), initializer=init,
                                               name="word_embeddings")
        self.projection = None
        if self.size != c.hidden_size:
            self.projection = keras.layers.Dense(c.hidden_size, use_bias=False, name="projection",
                                                 kernel_initializer=init)
            self.projection.build((None, None, self.size))
        self.layer_norm.build((None, None, c.hidden_size))

    def call(self, word_ids, input_mask, training=None):
        x = ops.take(self.word_embeddings, word_ids, axis=0)  # [B, T, E]
        if self.projection is not None:
            x = ops.cast(self.projection(x), "float32")  # [B, T, H]
        x = self.layer_norm(x) * ops.cast(input_mask, "float32")[:, :, None]  # padding: zeros
        return self.dropout(x, training=training)  # [B, T, H]


class RelativeEmbeddings(keras.layers.Layer):
    """The shared table of relative-position embeddings `[2S, H]`, layer-normed, and each query-key pair's
    row in it `[T, T]`."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        c = config
        max_relative = c.max_relative_positions if c.max_relative_positions >= 1 else c.max_position_embeddings
        self.span = c.position_buckets if c.position_buckets > 0 else max_relative  # S
        self.config = config
        self.layer_norm = _layer_norm(config, "rel_layer_norm")
        if c.position_buckets > 0:
            self.positions = log_bucket_positions(self.span, max_relative, c.max_position_embeddings)
        else:
            self.positions = tf.range(-c.max_position_embeddings, c.max_position_embeddings + 1)

    def build(self, x_shape=None):
        c = self.config
        self.table = self.add_weight(shape=(2 * self.span, c.hidden_size), name="rel_embeddings",
                                     initializer=keras.initializers.TruncatedNormal(stddev=c.initializer_range))
        self.layer_norm.build((None, c.hidden_size))

    def call(self, x):  # x: [B, T, H]
        t = ops.shape(x)[1]
        r = ops.arange(t)[:, None] - ops.arange(t)[None, :]  # [T, T] query minus key
        delta = ops.take(self.positions, r + (len(self.positions) // 2))  # [T, T] bucketed
        index = ops.clip(delta + self.span, 0, 2 * self.span - 1)  # [T, T] row of the table
        return self.layer_norm(self.table), index  # [2S, H], [T, T]


class DisentangledAttention(SelfAttention):
    """Content-to-content + content-to-position + position-to-content attention, over relative positions:
    BERT's projections (and their names), another score."""

    def _heads(self, x):  # [B, T, H] -> [B, N, T, D]
        shape = ops.shape(x)
        return ops.transpose(ops.reshape(x, (shape[0], shape[1], self.num_heads, self.head_size)), (0, 2, 1, 3))

    def call(self, x, input_mask, rel, index, training=None):
        batch, seq_len, hidden = ops.shape(x)
        q, k, v = (self._heads(_project(x, (d,))) for d in (self.query, self.key, self.value))  # [B, N, T, D]
        r = rel[None]  # [1, 2S, H]: the positions projected with this layer's query and key (biases too)
        qr, kr = (self._heads(_project(r, (d,)))[0] for d in (self.query, self.key))  # [N, 2S, D]
        scale = 1.0 / math.sqrt(self.head_size * 3)
        c2c = ops.einsum("bntd,bnsd->bnts", q, k)  # [B, N, T, T]
        shape = tf.shape(c2c)
        # c2p[i, j] = q_i . kr[index[i, j]];  p2c[i, j] = k_j . qr[index[i, j]]
        c2p = tf.gather(ops.einsum("bntd,nrd->bntr", q, kr), tf.broadcast_to(index, shape), batch_dims=3)  # [B,N,T,T]
        p2c = ops.einsum("bnsd,nrd->bnsr", k, qr)  # [B, N, T (key), 2S]
        p2c = tf.gather(p2c, tf.broadcast_to(ops.transpose(index), shape), batch_dims=3)  # [B, N, key, query]
        p2c = ops.transpose(p2c, (0, 1, 3, 2))  # [B, N, T, T]
        scores = ops.cast(c2c + c2p + p2c, "float32") * scale  # [B, N, T, T]
        key_is_real = ops.cast(input_mask, "bool")[:, None, None, :]  # [B, 1, 1, T]
        scores = ops.where(key_is_real, scores, MASK_NEGATIVE)  # a select, as in encoder.SelfAttention
        probs = self.dropout(ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype), training=training)
        context = ops.einsum("bnts,bnsd->bntd", probs, v)  # [B, N, T, D]
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch, seq_len, hidden))  # [B, T, H]
        return _project(context, (self.output_dense,))  # [B, T, H]


class DebertaEncoder(SeamEncoder):
    """DeBERTa-v2 / v3 as a functional Keras model with the TF Hub seam names (see the module docstring)."""

    default_name = "deberta_encoder"

    def __init__(self, config: EncoderConfig, name: str = "deberta_encoder", **kwargs):
        inputs = {n: keras.Input(shape=(None,), dtype="int32", name=n) for n in INPUT_NAMES}
        x = DebertaEmbeddings(config, name="embeddings")(inputs["input_word_ids"], inputs["input_mask"])
        rel, index = RelativeEmbeddings(config, name="relative")(x)  # [2S, H], [T, T]
        for i in range(config.num_layers):
            block = TransformerBlock(config, attention=DisentangledAttention(config, name="attention"),
                                     name=f"layer_{i}")
            x = block(x, inputs["input_mask"], rel, index)  # [B, T, H]
        pooled = FirstToken(name="first_token")(x)  # [B, H]
        super().__init__(inputs=inputs, outputs={"sequence_output": x, "pooled_output": pooled}, name=name,
                         **kwargs)
        self.config = config
