"""Builds a TF Hub-style BERT encoder the way TF Model Garden's exporter does, with tf-keras.

Run only in a `TF_USE_LEGACY_KERAS=1` process (see tests/test_tfhub_interop.py): a tf-keras
functional model whose layers carry Model Garden's names (`word_embeddings`, `position_embedding`,
`type_embeddings`, `embeddings/layer_norm`, `transformer/layer_{i}` holding a `MultiHeadAttention`
named `self_attention`, ..., `pooler_transform`), with `vocab_file` and `do_lower_case` attached and
saved as a SavedModel by Keras, as `bert_en_uncased_L-12_H-768_A-12/2` was. It is an independent
implementation: bertkit's loader reads it and must reproduce its outputs. GELU is the exact one
(Model Garden's default is the tanh approximation, which bertkit does not run).
"""

import tensorflow as tf

keras = tf.keras


class PositionEmbedding(keras.layers.Layer):
    def __init__(self, max_length, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", shape=[self.max_length, input_shape[-1]])

    def call(self, x):  # x: [B, T, H]
        return tf.broadcast_to(self.embeddings[None, : tf.shape(x)[1]], tf.shape(x))


class TransformerBlock(keras.layers.Layer):
    def __init__(self, heads, hidden, inner, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = keras.layers.MultiHeadAttention(heads, hidden // heads, name="self_attention")
        self.self_attention_layer_norm = keras.layers.LayerNormalization(epsilon=1e-12, name="self_attention_layer_norm")
        self.intermediate = keras.layers.Dense(inner, activation=lambda x: tf.nn.gelu(x, approximate=False),
                                               name="intermediate")
        self.output_dense = keras.layers.Dense(hidden, name="output")
        self.output_layer_norm = keras.layers.LayerNormalization(epsilon=1e-12, name="output_layer_norm")

    def call(self, x, attention_mask):  # x: [B, T, H], attention_mask: [B, T, T]
        x = self.self_attention_layer_norm(x + self.self_attention(x, x, attention_mask=attention_mask))
        return self.output_layer_norm(x + self.output_dense(self.intermediate(x)))


def build(vocab, hidden=32, layers=2, heads=4, inner=64, positions=64, types=2, seed=0):
    tf.random.set_seed(seed)
    init = keras.initializers.RandomNormal(stddev=0.5)  # large weights: every mapping error shows
    ids, mask, type_ids = (keras.layers.Input(shape=(None,), dtype=tf.int32, name=n)
                           for n in ("input_word_ids", "input_mask", "input_type_ids"))
    words = keras.layers.Embedding(vocab, hidden, embeddings_initializer=init, name="word_embeddings")(ids)
    x = words + PositionEmbedding(positions, name="position_embedding")(words)
    x = x + keras.layers.Embedding(types, hidden, embeddings_initializer=init, name="type_embeddings")(type_ids)
    x = keras.layers.LayerNormalization(epsilon=1e-12, name="embeddings/layer_norm")(x)
    attention_mask = tf.cast(mask[:, None, :], tf.bool) & tf.ones_like(tf.cast(mask[:, :, None], tf.bool))
    for i in range(layers):
        x = TransformerBlock(heads, hidden, inner, name=f"transformer/layer_{i}")(x, attention_mask)
    pooled = keras.layers.Dense(hidden, activation="tanh", name="pooler_transform")(x[:, 0])
    model = keras.Model([ids, mask, type_ids], [pooled, x])
    for v in model.weights:  # non-trivial biases and LayerNorm parameters too
        v.assign(v + tf.random.normal(v.shape, stddev=0.1))
    return model


def save(model, folder, vocab_file, do_lower_case=True):
    model.vocab_file = tf.saved_model.Asset(vocab_file)
    model.do_lower_case = tf.Variable(do_lower_case, trainable=False)
    # save_traces=False: no per-layer call graphs (slow to trace, and bertkit reads only the variables).
    model.save(folder, include_optimizer=False, save_format="tf", save_traces=False)
    return {v.name: v.shape.as_list() for v in model.weights}


def outputs(model, arrays):
    pooled, sequence = model([tf.constant(arrays[k]) for k in ("input_word_ids", "input_mask", "input_type_ids")])
    return {"pooled_output": pooled.numpy(), "sequence_output": sequence.numpy()}

