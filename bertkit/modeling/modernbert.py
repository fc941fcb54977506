"""ModernBERT (Hugging Face `model_type` "modernbert") with the TF Hub seam names.

What differs from BERT: pre-LayerNorm blocks (layer 0 without an attention norm, a final norm after the
last layer), LayerNorms and projections without biases, no position or token-type embeddings but rotary
position embeddings on queries and keys (base 160,000 in the global layers, 10,000 in the local ones),
a GeGLU feed-forward (the first half of the input projection through GELU, times the second half), and
alternating attention: layers 0, n, 2n, ... attend to every key, the others only to keys within
`local_attention // 2` positions. No pooler: `pooled_output` is the first position's vector.

Variable paths: `embeddings/word_embeddings` [V, H], `embeddings/layer_norm/gamma`, per layer
`layer_{i}/attention_layer_norm/gamma` (i > 0), `layer_{i}/attention/qkv/kernel` [H, 3H] (q, k, v, each
head-major), `layer_{i}/attention/output/kernel` [H, H], `layer_{i}/mlp_layer_norm/gamma`,
`layer_{i}/mlp/input/kernel` [H, 2I], `layer_{i}/mlp/output/kernel` [I, H], and `final_layer_norm/gamma`.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from bertkit.core.config import EncoderConfig
from bertkit.modeling.dropout import Dropout
from bertkit.modeling.encoder import INPUT_NAMES, MASK_NEGATIVE, FirstToken, SeamEncoder, _gelu, _gelu_inference


def _norm(config: EncoderConfig, name: str) -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, center=False, dtype="float32", name=name)


def _linear(units: int, config: EncoderConfig, name: str) -> keras.layers.Dense:
    return keras.layers.Dense(units, use_bias=False, name=name,
                              kernel_initializer=keras.initializers.TruncatedNormal(stddev=config.initializer_range))


def rotate(x, theta: float):
    """Rotary position embedding, rotate-half form: `x cos + rotate_half(x) sin` per position. x: `[B, N, T, D]`."""
    t, d = ops.shape(x)[2], x.shape[-1]
    inverse = 1.0 / (theta ** (tf.range(0, d, 2, dtype=tf.float32) / d))  # [D/2]
    angles = tf.cast(tf.range(t), tf.float32)[:, None] * inverse[None, :]  # [T, D/2]
    angles = tf.concat([angles, angles], axis=-1)  # [T, D]
    cos, sin = (ops.cast(f(angles), x.dtype) for f in (tf.cos, tf.sin))
    half = d // 2
    rotated = tf.concat([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


class RotaryAttention(keras.layers.Layer):
    """Self-attention with rotary positions; a local layer sees keys within `window` positions."""

    def __init__(self, config: EncoderConfig, is_global: bool, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.head_size = config.num_heads, config.hidden_size // config.num_heads
        self.theta = config.global_rope_theta if is_global else config.local_rope_theta
        self.window = None if is_global else config.local_attention // 2
        self.qkv = _linear(3 * config.hidden_size, config, "qkv")
        self.output_dense = _linear(config.hidden_size, config, "output")
        self.dropout = Dropout(config.attention_dropout)

    def build(self, x_shape):
        self.qkv.build(x_shape)
        self.output_dense.build(x_shape)

    def call(self, x, input_mask, training=None):
        batch, seq_len, hidden = ops.shape(x)
        qkv = ops.reshape(self.qkv(x), (batch, seq_len, 3, self.num_heads, self.head_size))  # [B, T, 3, N, D]
        q, k, v = ops.unstack(ops.transpose(qkv, (2, 0, 3, 1, 4)), axis=0)  # 3 x [B, N, T, D]
        q, k = rotate(q, self.theta), rotate(k, self.theta)
        scores = ops.cast(ops.einsum("bntd,bnsd->bnts", q, k), "float32") / math.sqrt(self.head_size)  # [B,N,T,T]
        seen = ops.cast(input_mask, "bool")[:, None, None, :]  # [B, 1, 1, T]
        if self.window is not None:
            distance = ops.abs(ops.arange(seq_len)[:, None] - ops.arange(seq_len)[None, :])  # [T, T]
            seen = seen & (distance <= self.window)[None, None]
        scores = ops.where(seen, scores, MASK_NEGATIVE)
        probs = self.dropout(ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype), training=training)
        context = ops.einsum("bnts,bnsd->bntd", probs, v)  # [B, N, T, D]
        return self.output_dense(ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch, seq_len, hidden)))


class GeGLU(keras.layers.Layer):
    """`output(gelu(a) * b)` where `[a, b]` is the input projection `[.., 2I]` split in halves."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.size = config.intermediate_size
        self.input_dense = _linear(2 * config.intermediate_size, config, "input")
        self.output_dense = _linear(config.hidden_size, config, "output")
        self.dropout = Dropout(config.dropout)

    def build(self, x_shape):
        self.input_dense.build(x_shape)
        self.output_dense.build((None, None, self.size))

    def call(self, x, training=None):
        h = self.input_dense(x)  # [B, T, 2I]
        a, b = h[..., :self.size], h[..., self.size:]
        h = (_gelu(a) if training else _gelu_inference(a)) * b  # [B, T, I]
        return self.output_dense(self.dropout(h, training=training))  # [B, T, H]


class ModernBlock(keras.layers.Layer):
    """Pre-norm block: x += Attn(norm(x)); x += MLP(norm(x)) (layer 0 reads x un-normed)."""

    def __init__(self, config: EncoderConfig, index: int, **kwargs):
        super().__init__(autocast=False, **kwargs)
        every = max(1, config.global_attn_every_n_layers)
        self.attention_layer_norm = _norm(config, "attention_layer_norm") if index > 0 else None
        self.attention = RotaryAttention(config, is_global=index % every == 0, name="attention")
        self.mlp_layer_norm = _norm(config, "mlp_layer_norm")
        self.mlp = GeGLU(config, name="mlp")

    def build(self, x_shape):
        if self.attention_layer_norm is not None:
            self.attention_layer_norm.build(x_shape)
        self.attention.build(x_shape)
        self.mlp_layer_norm.build(x_shape)
        self.mlp.build(x_shape)

    def call(self, x, input_mask, training=None):  # x: [B, T, H] float32
        h = self.attention_layer_norm(x) if self.attention_layer_norm is not None else x
        x = x + ops.cast(self.attention(h, input_mask, training=training), "float32")
        return x + ops.cast(self.mlp(self.mlp_layer_norm(x), training=training), "float32")


class ModernEmbeddings(keras.layers.Layer):
    """Token embeddings, LayerNorm (no bias), dropout. Runs in float32."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.config = config
        self.layer_norm = _norm(config, "layer_norm")
        self.dropout = Dropout(config.dropout, dtype="float32")

    def build(self, ids_shape):
        c = self.config
        self.word_embeddings = self.add_weight(shape=(c.vocab_size, c.hidden_size), name="word_embeddings",
                                               initializer=keras.initializers.TruncatedNormal(c.initializer_range))
        self.layer_norm.build((None, None, c.hidden_size))

    def call(self, ids, training=None):
        return self.dropout(self.layer_norm(ops.take(self.word_embeddings, ids, axis=0)), training=training)


class ModernBertEncoder(SeamEncoder):
    """ModernBERT as a functional Keras model with the TF Hub seam names (see the module docstring)."""

    default_name = "modernbert_encoder"

    def __init__(self, config: EncoderConfig, name: str = "modernbert_encoder", **kwargs):
        inputs = {n: keras.Input(shape=(None,), dtype="int32", name=n) for n in INPUT_NAMES}
        x = ModernEmbeddings(config, name="embeddings")(inputs["input_word_ids"])
        for i in range(config.num_layers):
            x = ModernBlock(config, i, name=f"layer_{i}")(x, inputs["input_mask"])  # [B, T, H]
        x = _norm(config, "final_layer_norm")(x)
        pooled = FirstToken(name="first_token")(x)  # [B, H]
        super().__init__(inputs=inputs, outputs={"sequence_output": x, "pooled_output": pooled}, name=name,
                         **kwargs)
        self.config = config
