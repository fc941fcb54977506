"""Writes a bertkit encoder as a TF Hub BERT SavedModel, usable by `hub.KerasLayer` in TF 2 code.

The folder has the shape of TF Hub's BERT encoders: Model Garden variable names and shapes
(`transformer/layer_0/self_attention/query/kernel` `[H, N, D]`, ...; the table lives in
`bertkit.weights.tfhub_savedmodel`), `assets/vocab.txt` and the root attributes `vocab_file` and
`do_lower_case`. It is a "reusable SavedModel": `variables`, `trainable_variables`,
`regularization_losses`, and a `__call__(inputs, training)` with both TF Hub interfaces:

* v1/v2 style: `[input_word_ids, input_mask, input_type_ids]` -> `[pooled_output, sequence_output]`;
* v3+ style: a dict of the three -> `{"pooled_output", "sequence_output", "encoder_outputs", "default"}`.

The forward pass is written in plain TF ops over those variables (`HubBertEncoder`), so the
SavedModel needs neither Keras 3 nor tf-keras; tests check it against `BertEncoder` to 1e-5.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from bertkit.config import EncoderConfig
from bertkit.encoder import INPUT_NAMES, MASK_NEGATIVE, BertEncoder
from bertkit.io_utils import atomic_directory
from bertkit.weights.mapping import export_tables
from bertkit.weights.tfhub_savedmodel import CONFIG_ASSET, name_table

SPEC = tf.TensorSpec([None, None], tf.int32)


class HubBertEncoder(tf.Module):
    """Post-LayerNorm BERT over Model Garden-named `tf.Variable`s, in float32 TF ops.

    Args:
        config: the architecture (and dropout rates, LayerNorm epsilon).
        arrays: {Model Garden name: array in Model Garden shape}, e.g. from `export_tables`.
    """

    def __init__(self, config: EncoderConfig, arrays: dict[str, np.ndarray]):
        super().__init__()
        self.config = config
        # Variable names are the Model Garden paths, as `var.name` shows them in any TF Hub BERT.
        self.weights = {name: tf.Variable(value, name=name, dtype=tf.float32) for name, value in arrays.items()}

    def _w(self, name: str) -> tf.Variable:
        return self.weights[name]

    def _layer_norm(self, x, prefix: str):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)  # [B, T, 1] each
        normed = (x - mean) * tf.math.rsqrt(variance + self.config.layer_norm_eps)
        return normed * self._w(prefix + "gamma") + self._w(prefix + "beta")

    def _dropout(self, x, rate: float, training: bool):
        return tf.nn.dropout(x, rate=rate) if training and rate > 0 else x

    def _block(self, x, key_is_pad, prefix: str, training: bool):  # x: [B, T, H]
        c = self.config
        att = prefix + "self_attention/"
        q = tf.einsum("bth,hnd->btnd", x, self._w(att + "query/kernel")) + self._w(att + "query/bias")
        k = tf.einsum("bth,hnd->btnd", x, self._w(att + "key/kernel")) + self._w(att + "key/bias")
        v = tf.einsum("bth,hnd->btnd", x, self._w(att + "value/kernel")) + self._w(att + "value/bias")
        q *= 1.0 / math.sqrt(c.hidden_size // c.num_heads)  # [B, T, N, D]
        scores = tf.einsum("btnd,bsnd->bnts", q, k) + key_is_pad[:, None, None, :] * MASK_NEGATIVE  # [B, N, T, T]
        probs = self._dropout(tf.nn.softmax(scores, axis=-1), c.attention_dropout, training)
        context = tf.einsum("bnts,bsnd->btnd", probs, v)  # [B, T, N, D]
        a = tf.einsum("btnd,ndh->bth", context, self._w(att + "attention_output/kernel"))
        a += self._w(att + "attention_output/bias")  # [B, T, H]
        x = self._layer_norm(x + self._dropout(a, c.dropout, training), prefix + "self_attention_layer_norm/")
        h = tf.nn.gelu(tf.einsum("bth,hi->bti", x, self._w(prefix + "intermediate/kernel"))
                       + self._w(prefix + "intermediate/bias"), approximate=False)  # [B, T, I]
        h = tf.einsum("bti,ih->bth", h, self._w(prefix + "output/kernel")) + self._w(prefix + "output/bias")
        return self._layer_norm(x + self._dropout(h, self.config.dropout, training), prefix + "output_layer_norm/")

    def call(self, inputs, training=False):
        """`[ids, mask, type_ids]` -> `[pooled, sequence]`; a dict of the three -> the dict of outputs."""
        as_list = not isinstance(inputs, dict)
        ids, mask, types = inputs if as_list else (inputs[n] for n in INPUT_NAMES)  # [B, T] each
        seq_len = tf.shape(ids)[1]
        x = tf.gather(self._w("word_embeddings/embeddings"), ids)  # [B, T, H]
        x += tf.gather(self._w("type_embeddings/embeddings"), types)
        x += self._w("position_embedding/embeddings")[None, :seq_len]
        x = self._dropout(self._layer_norm(x, "embeddings/layer_norm/"), self.config.dropout, training)
        key_is_pad = 1.0 - tf.cast(mask, tf.float32)  # [B, T]
        encoder_outputs = []
        for i in range(self.config.num_layers):
            x = self._block(x, key_is_pad, f"transformer/layer_{i}/", training)
            encoder_outputs.append(x)
        pooled = tf.tanh(tf.matmul(x[:, 0], self._w("pooler_transform/kernel")) + self._w("pooler_transform/bias"))
        if as_list:
            return [pooled, x]
        return {"pooled_output": pooled, "sequence_output": x, "encoder_outputs": encoder_outputs,
                "default": pooled}


def reusable_saved_model(module: HubBertEncoder, vocab_file: str, do_lower_case: bool) -> tf.train.Checkpoint:
    """The object TF Hub's loaders expect at the root: attributes plus a traced `__call__`."""
    root = tf.train.Checkpoint()
    root.encoder = module
    root.variables = list(module.weights.values())
    root.trainable_variables = list(module.weights.values())
    root.regularization_losses = []
    root.vocab_file = tf.saved_model.Asset(vocab_file)
    root.do_lower_case = tf.Variable(do_lower_case, trainable=False, name="do_lower_case")
    call = tf.function(module.call)
    for training in (False, True):  # a Python bool: one graph each, both saved
        call.get_concrete_function([SPEC] * 3, training=training)
        call.get_concrete_function({n: SPEC for n in INPUT_NAMES}, training=training)
    root.__call__ = call
    return root


def save_tfhub(encoder: BertEncoder, vocab_file: str, do_lower_case: bool, out_dir: str) -> None:
    """Writes `encoder` as a TF Hub BERT encoder SavedModel folder (see the module docstring).

    Args:
        encoder: the encoder to export (its float32 values; any mixed-precision policy is ignored).
        vocab_file: its WordPiece vocabulary, stored as assets/vocab.txt.
        do_lower_case: stored as the `do_lower_case` attribute.
        out_dir: the folder to write; replaced atomically if it exists.
    """
    config = encoder.config
    module = HubBertEncoder(config, export_tables(encoder, name_table(config.num_layers)))

    @tf.function
    def serve(input_word_ids, input_mask, input_type_ids):  # TF Serving's signature: named tensors in and out
        pooled, sequence = module.call([input_word_ids, input_mask, input_type_ids])
        return {"pooled_output": pooled, "sequence_output": sequence}

    with tempfile.TemporaryDirectory() as staging, atomic_directory(out_dir) as tmp:
        vocab = Path(staging) / "vocab.txt"  # the asset keeps its file name: always vocab.txt
        shutil.copyfile(vocab_file, vocab)
        root = reusable_saved_model(module, str(vocab), do_lower_case)
        signature = serve.get_concrete_function(*(tf.TensorSpec([None, None], tf.int32, name=n)
                                                  for n in INPUT_NAMES))
        tf.saved_model.save(root, str(tmp), signatures={"serving_default": signature})
        (tmp / "assets" / CONFIG_ASSET).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
