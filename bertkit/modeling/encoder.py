"""Native Keras 3 BERT encoder with the TF Hub seam names, and the BERT descendants that share its maths.

Inputs (dict of int32 `[B, T]`): `input_word_ids`, `input_mask`, `input_type_ids`, for any
`T <= config.max_seq_length`. Outputs (dict, float32): `sequence_output` `[B, T, H]` and
`pooled_output` `[B, H]` (tanh dense on the first position; without a pooler, that position's vector).

The same blocks, by `EncoderConfig` options, are DistilBERT (no token types), ELECTRA (embeddings of
another size, projected), RoBERTa / XLM-R (positions from `position_offset`), MPNet (a relative-position
bias shared by all layers) and ALBERT (projected embeddings, one layer's weights applied `num_layers`
times, tanh GELU). DeBERTa-v2 and ModernBERT differ in their attention and have their own modules.

Post-LayerNorm blocks as in the original BERT. Under a mixed policy (e.g. "mixed_bfloat16") the
matmuls run in the compute dtype, while the residual stream, every LayerNorm and the attention
softmax stay in float32: a bfloat16 variance or softmax costs accuracy for no measurable speed.

Variable paths (`encoder.named_variables()` keys) are what weight loaders map to:

    embeddings/word_embeddings                    [V, H]
    embeddings/position_embeddings                [P, H]
    embeddings/token_type_embeddings              [TV, H]
    embeddings/layer_norm/{gamma,beta}            [H]   ([E] with embedding_size E; then:)
    embeddings/projection/{kernel,bias}           [E, H], [H]
    relative_attention_bias/embeddings            [buckets, N]   (MPNet)
    layer_{i}/attention/{query,key,value}/kernel  [H, H]   (input-major: y = x @ kernel + bias)
    layer_{i}/attention/{query,key,value}/bias    [H]
    layer_{i}/attention/output/{kernel,bias}      [H, H], [H]
    layer_{i}/attention_layer_norm/{gamma,beta}   [H]
    layer_{i}/intermediate/{kernel,bias}          [H, I], [I]
    layer_{i}/output/{kernel,bias}                [I, H], [H]
    layer_{i}/output_layer_norm/{gamma,beta}      [H]
    pooler/dense/{kernel,bias}                    [H, H], [H]   (with a pooler)

With `shared_layers` there is one `layer_0`, applied `num_layers` times.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from bertkit.core.config import EncoderConfig
from bertkit.modeling.dropout import Dropout
from bertkit.core.errors import BertkitError

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")
MASK_NEGATIVE = -1e9  # the score of a padded key (a select, never an add); exp() of it is exactly 0 in float32


def _dense(units: int, config: EncoderConfig, name: str, activation=None) -> keras.layers.Dense:
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=config.initializer_range),
        name=name,
    )


def _layer_norm(config: EncoderConfig, name: str) -> keras.layers.LayerNormalization:
    # dtype float32: statistics and output stay float32 under any mixed policy.
    return keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, dtype="float32", name=name)


@tf.custom_gradient
def _gelu(x):
    """Exact erf GELU, as BERT and HF "gelu": `x * Phi(x)`, with its derivative `Phi(x) + x * phi(x)`
    written out: differentiating the composition gives a chain of ~12 elementwise passes over
    `[B, T, intermediate]`, while this gradient reuses `Phi(x)` from the forward pass.
    `Phi(x) = (1 + erf(x / sqrt 2)) / 2`, HF's formula: TF's `erfc` (which `tf.nn.gelu` uses) has no
    vectorised bfloat16 kernel. Profiles: `benchmarks/results/profile_step*.json`."""
    with tf.name_scope("gelu"):  # named, so profiles can attribute its ops
        cdf = 0.5 + 0.5 * tf.math.erf(x * tf.constant(1.0 / math.sqrt(2.0), x.dtype))  # Phi(x)
        y = x * cdf

    def grad(dy):
        with tf.name_scope("gelu_grad"):
            pdf = tf.exp(-0.5 * tf.square(x)) * tf.constant(1.0 / math.sqrt(2.0 * math.pi), x.dtype)  # phi(x)
            return dy * (cdf + x * pdf)

    return y, grad


def _gelu_inference(x):
    """The same GELU without a custom gradient, in the exact form `0.5 * x * (1 + erf(x / sqrt 2))` that
    TensorFlow's oneDNN graph rewrite fuses into the preceding matmul + bias add (inference only: the
    custom gradient's IdentityN hides the pattern)."""
    return 0.5 * x * (1.0 + tf.math.erf(x * tf.constant(1.0 / math.sqrt(2.0), x.dtype)))


def _tanh_gelu(x):
    """The tanh approximation of GELU (HF "gelu_new", ALBERT's; Google's and Model Garden's BERT too)."""
    return tf.nn.gelu(x, approximate=True)


def _project(x, denses, activation=None):
    """`x @ concat(kernels) + concat(biases)` for Dense layers that share the input `x` `[B, T, H]`.

    One 2-D matmul followed by `bias_add` (and `activation`): on CPUs TensorFlow fuses that pattern into
    one oneDNN op; a 3-D Dense call puts reshapes between them. Query, key and value share one matmul and
    one cast of `x`. The Dense layers keep owning their variables (names and checkpoints unchanged).
    Returns `[B, T, sum(units)]` in the layers' compute dtype.
    """
    dtype = denses[0].compute_dtype
    kernels = [tf.cast(d.kernel, dtype) for d in denses]  # [H, U_i]
    biases = [tf.cast(d.bias, dtype) for d in denses]  # [U_i]
    kernel = kernels[0] if len(denses) == 1 else tf.concat(kernels, axis=1)  # [H, U]
    bias = biases[0] if len(denses) == 1 else tf.concat(biases, axis=0)  # [U]
    shape = tf.shape(x)
    flat = tf.reshape(tf.cast(x, dtype), [-1, shape[-1]])  # [B*T, H]
    y = tf.nn.bias_add(tf.matmul(flat, kernel), bias)  # [B*T, U]
    if activation is not None:
        y = activation(y)
    return tf.reshape(y, tf.concat([shape[:-1], tf.shape(kernel)[-1:]], axis=0))  # [B, T, U]


class Embeddings(keras.layers.Layer):
    """Word + position + token type embeddings, LayerNorm, dropout. Runs in float32."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.config = config
        self.layer_norm = _layer_norm(config, "layer_norm")
        self.dropout = Dropout(config.dropout, dtype="float32")

    def build(self, word_ids_shape, type_ids_shape=None):
        c = self.config
        init = keras.initializers.TruncatedNormal(stddev=c.initializer_range)
        self.size = c.embedding_size or c.hidden_size  # E
        self.word_embeddings = self.add_weight(
            shape=(c.vocab_size, self.size), initializer=init, name="word_embeddings")
        self.position_embeddings = self.add_weight(
            shape=(c.max_position_embeddings, self.size), initializer=init, name="position_embeddings")
        if c.type_vocab_size:
            self.token_type_embeddings = self.add_weight(
                shape=(c.type_vocab_size, self.size), initializer=init, name="token_type_embeddings")
        self.layer_norm.build((None, None, self.size))
        self.projection = None
        if self.size != c.hidden_size:  # ELECTRA's embeddings_project, ALBERT's embedding_hidden_mapping_in
            self.projection = _dense(c.hidden_size, c, "projection")
            self.projection.build((None, None, self.size))

    def call(self, word_ids, type_ids, training=None):
        c = self.config
        seq_len = ops.shape(word_ids)[1]
        if isinstance(seq_len, int) and seq_len > c.max_seq_length:
            raise BertkitError(f"sequence length {seq_len} exceeds the {c.max_seq_length} positions of this "
                               "encoder; use a shorter max_seq_length.")
        x = ops.take(self.word_embeddings, word_ids, axis=0)  # [B, T, E]
        if c.type_vocab_size:
            x += ops.take(self.token_type_embeddings, type_ids, axis=0)  # [B, T, E]
        # Right-padded rows: position j is j + offset (RoBERTa counts from padding_idx + 1).
        x += ops.slice(self.position_embeddings, (c.position_offset, 0), (seq_len, self.size))[None]  # [1, T, E]
        x = self.layer_norm(x)
        if self.projection is not None:
            x = ops.cast(self.projection(x), "float32")  # [B, T, H]
        return self.dropout(x, training=training)  # [B, T, H] float32


class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention; heads via reshape + batched matmuls (no per-head loop)."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = config.num_heads
        self.head_size = config.hidden_size // config.num_heads
        self.query = _dense(config.hidden_size, config, "query")
        self.key = _dense(config.hidden_size, config, "key")
        self.value = _dense(config.hidden_size, config, "value")
        self.output_dense = _dense(config.hidden_size, config, "output")
        self.dropout = Dropout(config.attention_dropout)

    def build(self, x_shape, input_mask_shape=None):
        for dense in (self.query, self.key, self.value):
            dense.build(x_shape)
        self.output_dense.build(x_shape)

    def call(self, x, input_mask, bias=None, training=None):
        batch, seq_len, hidden = ops.shape(x)
        qkv = _project(x, (self.query, self.key, self.value))  # [B, T, 3H]
        qkv = ops.reshape(qkv, (batch, seq_len, 3, self.num_heads, self.head_size))  # [B, T, 3, N, D]
        # One transpose puts heads before positions, so both attention matmuls are plain batched matmuls.
        q, k, v = ops.unstack(ops.transpose(qkv, (2, 0, 3, 1, 4)), axis=0)  # 3 x [B, N, T, D]
        # Scaling q (B*T*H values) is cheaper than scaling the scores (B*N*T*T).
        q = q * ops.cast(1.0 / math.sqrt(self.head_size), q.dtype)

        scores = ops.cast(ops.einsum("bntd,bnsd->bnts", q, k), "float32")  # [B, N, T, T]
        # expand_dims, not [:, None, None, :]: LiteRT has no builtin kernel for a strided slice that adds axes.
        key_is_real = ops.expand_dims(ops.cast(input_mask, "bool"), (1, 2))  # [B, 1, 1, T]
        # A select, not `scores + pad * MASK_NEGATIVE`: the same softmax in float, but in a full-int8 .tflite
        # an add's output range is calibrated, and -1e9 in it (or clipped out of it) wrecks the scores
        # (benchmarks/results/litert_int8_layers-*.json); a select's clipped constant stays a large negative.
        scores = ops.where(key_is_real, scores, MASK_NEGATIVE)  # [B, N, T, T]
        if bias is not None:
            scores += bias[None]  # [1, N, T, T] relative-position bias
        probs = ops.softmax(scores, axis=-1)  # [B, N, T, T] float32
        probs = self.dropout(ops.cast(probs, self.compute_dtype), training=training)

        context = ops.einsum("bnts,bnsd->bntd", probs, v)  # [B, N, T, D]
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch, seq_len, hidden))  # [B, T, H]
        return _project(context, (self.output_dense,))  # [B, T, H]


class TransformerBlock(keras.layers.Layer):
    """Post-LayerNorm BERT block: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, config: EncoderConfig, attention=None, **kwargs):
        # autocast=False: the float32 residual stream must not be cast on entry; the sublayers
        # cast their own inputs to the compute dtype.
        super().__init__(autocast=False, **kwargs)
        self.hidden_size = config.hidden_size
        self.tanh_gelu = config.hidden_act == "gelu_new"
        self.attention = attention or SelfAttention(config, name="attention")  # DeBERTa brings its own
        self.attention_output_dropout = Dropout(config.dropout)
        self.attention_layer_norm = _layer_norm(config, "attention_layer_norm")
        self.intermediate = _dense(config.intermediate_size, config, "intermediate")  # GELU: in call()
        self.output_dense = _dense(config.hidden_size, config, "output")
        self.output_dropout = Dropout(config.dropout)
        self.output_layer_norm = _layer_norm(config, "output_layer_norm")

    def build(self, x_shape):
        self.attention.build(x_shape)
        self.attention_layer_norm.build(x_shape)
        self.intermediate.build(x_shape)
        self.output_dense.build((None, None, self.intermediate.units))
        self.output_layer_norm.build(x_shape)

    def call(self, x, input_mask, *context, training=None):  # x: [B, T, H] float32
        a = self.attention(x, input_mask, *context, training=training)  # [B, T, H] compute dtype
        a = self.attention_output_dropout(a, training=training)
        x = self.attention_layer_norm(x + ops.cast(a, "float32"))  # [B, T, H] float32
        act = _tanh_gelu if self.tanh_gelu else _gelu if training else _gelu_inference
        h = _project(x, (self.intermediate,), act)  # [B, T, I] compute dtype
        h = self.output_dropout(_project(h, (self.output_dense,)), training=training)  # [B, T, H]
        return self.output_layer_norm(x + ops.cast(h, "float32"))  # [B, T, H] float32


class Pooler(keras.layers.Layer):
    """tanh dense on the [CLS] (first) position."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.dense = _dense(config.hidden_size, config, "dense", activation="tanh")

    def build(self, x_shape):
        self.dense.build((None, x_shape[-1]))

    def call(self, x):  # x: [B, T, H]
        return ops.cast(self.dense(x[:, 0, :]), "float32")  # [B, H]


class FirstToken(keras.layers.Layer):
    """The pooled output of an encoder without a pooler: the first position's vector, as it is."""

    def call(self, x):  # x: [B, T, H]
        return ops.cast(x[:, 0, :], "float32")  # [B, H]


class RelativePositionBias(keras.layers.Layer):
    """MPNet's attention bias: a learned value per head for each bucket of the key-minus-query distance,
    computed once and added in every layer. Buckets are T5's (16 per direction: exact below 8, then
    log-spaced up to 128), as transformers computes them in float32 (`relative_buckets`)."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.config = config
        self.buckets = relative_buckets(config.max_position_embeddings)  # [2D + 1] for distance -D..D

    def build(self, seq_shape=None):
        c = self.config
        self.embeddings = self.add_weight(shape=(c.relative_attention_buckets, c.num_heads), name="embeddings",
                                          initializer=keras.initializers.TruncatedNormal(stddev=c.initializer_range))

    def call(self, x):  # x: [B, T, H]
        t = ops.shape(x)[1]
        distance = ops.arange(t)[None, :] - ops.arange(t)[:, None]  # [T, T] key minus query
        bucket = ops.take(self.buckets, distance + len(self.buckets) // 2)  # [T, T]
        return ops.transpose(ops.take(self.embeddings, bucket, axis=0), (2, 0, 1))  # [N, T, T]


def relative_buckets(max_distance_seen: int, num_buckets: int = 32, max_distance: int = 128):
    """MPNet's bucket of every key-minus-query distance in -D..D, with transformers' float32 arithmetic
    (a float64 log would round some boundaries the other way)."""
    import numpy as np

    relative = np.arange(-max_distance_seen, max_distance_seen + 1)
    n = -relative
    half, exact = num_buckets // 2, num_buckets // 4
    f = np.float32
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) only where n < exact, unused
        large = exact + (np.log(np.abs(n).astype(f) / f(exact)) / f(np.log(max_distance / exact))
                         * f(half - exact)).astype(np.int64)
    magnitude = np.where(np.abs(n) < exact, np.abs(n), np.minimum(large, half - 1))
    return tf.constant(np.where(n < 0, half, 0) + magnitude, tf.int32)


def named_variables(encoder: keras.Model, anchor: str) -> dict:
    """`{path: variable}` of an encoder, paths without whatever scope the encoder was built in.

    Paths are fixed when variables are created and carry the creator's scope if the encoder was built
    inside another layer; `anchor` (the path of a variable we know) tells how much to strip."""
    found = next(v for v in encoder.weights if v.path.endswith(anchor))
    prefix = found.path[: -len(anchor)]
    weights = list({id(v): v for v in encoder.weights}.values())  # a shared layer's once
    named = {v.path[len(prefix):]: v for v in weights}
    if len(named) != len(weights):
        raise RuntimeError(f"{type(encoder).__name__} has duplicate variable paths.")
    return named


class SeamEncoder(keras.Model):
    """What every family's encoder shares: a functional model from one `EncoderConfig` with the TF Hub seam
    names, its variables by path, and its config round trip (subclasses build the graph in `__init__`)."""

    default_name = "encoder"

    def named_variables(self) -> dict[str, keras.Variable]:
        """Returns `{path: variable}` with paths as in the module docstring (no model prefix)."""
        return named_variables(self, "embeddings/word_embeddings")

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(EncoderConfig.from_dict(config["config"]), name=config.get("name", cls.default_name))


class BertEncoder(SeamEncoder):
    """BERT encoder as a functional Keras model built from an `EncoderConfig`.

    Example:
        encoder = BertEncoder(EncoderConfig(hidden_size=384, num_layers=6, ...))
        out = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types})
        out["pooled_output"]  # [B, H]
    """

    default_name = "bert_encoder"

    def __init__(self, config: EncoderConfig, name: str = "bert_encoder", **kwargs):
        if config.hidden_act not in ("gelu", "gelu_new"):
            raise BertkitError(f"EncoderConfig.hidden_act {config.hidden_act!r} is not supported; 'gelu' (exact) "
                               "or 'gelu_new' (tanh approximation).")
        inputs = {n: keras.Input(shape=(None,), dtype="int32", name=n) for n in INPUT_NAMES}
        x = Embeddings(config, name="embeddings")(inputs["input_word_ids"], inputs["input_type_ids"])
        bias = None
        if config.relative_attention_buckets:
            bias = RelativePositionBias(config, name="relative_attention_bias")(x)  # [N, T, T]
        shared = TransformerBlock(config, name="layer_0") if config.shared_layers else None
        for i in range(config.num_layers):
            block = shared or TransformerBlock(config, name=f"layer_{i}")
            x = block(x, inputs["input_mask"], *([] if bias is None else [bias]))  # [B, T, H]
        pooled = (Pooler(config, name="pooler") if config.pooler else FirstToken(name="first_token"))(x)  # [B, H]
        super().__init__(
            inputs=inputs, outputs={"sequence_output": x, "pooled_output": pooled}, name=name, **kwargs
        )
        self.config = config
