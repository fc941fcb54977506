"""TF Hub BERT SavedModel folders (`bert_en_uncased_L-12_H-768_A-12/2`, `/3`, `/4`, small BERTs, ...).

A TF Hub BERT encoder is TF Model Garden's `BertEncoder` saved as a TF2 SavedModel:
`saved_model.pb`, `variables/variables.{index,data-*}`, `assets/vocab.txt`, and two root
attributes, `vocab_file` (an Asset) and `do_lower_case` (a bool Variable).

bertkit **maps the SavedModel's variables into its native `BertEncoder`** rather than wrapping
the SavedModel as a layer: Keras 3 cannot host `hub.KerasLayer` (a tf-keras layer), and the native
encoder is what bertkit's training loop, mixed precision and distribution strategies are built
for. Loading reads only data, never runs the SavedModel's graph: the variable names come from the
SavedModel's object graph (`saved_model.pb`), their values from its checkpoint, paired by object
path, and each is copied through the explicit table below (Model Garden names and shapes:
attention kernels are `[H, N, D]` einsum kernels, reshaped to bertkit's `[H, H]`).

The architecture is read from the tensor shapes. Dropout rates and LayerNorm epsilon are not
stored in a real TF Hub SavedModel; they take Model Garden's values (0.1, 1e-12) unless the folder
has bertkit's `assets/encoder_config.json` (written by `save_tfhub`).

Activation: Model Garden's BERT uses the tanh-approximate GELU; bertkit runs the exact erf GELU
(< 1e-3 apart per activation), as Hugging Face does for the same weights.

Writing (`save_tfhub`, for `bertkit export-encoder --format tfhub`) gives a folder of the same shape:
Model Garden variable names and shapes (the table below), `assets/vocab.txt` and the root attributes
`vocab_file` and `do_lower_case`. It is a "reusable SavedModel": `variables`, `trainable_variables`,
`regularization_losses`, and a `__call__(inputs, training)` with both TF Hub interfaces:

* v1/v2 style: `[input_word_ids, input_mask, input_type_ids]` -> `[pooled_output, sequence_output]`;
* v3+ style: a dict of the three -> `{"pooled_output", "sequence_output", "encoder_outputs", "default"}`.

The forward pass is written in plain TF ops over those variables (`HubBertEncoder`), so the
SavedModel needs neither Keras 3 nor tf-keras; tests check it against `BertEncoder` to 1e-5.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2, trackable_object_graph_pb2

from bertkit.core import graph
from bertkit.core.config import EncoderConfig
from bertkit.core.io import atomic_directory
from bertkit.modeling.encoder import INPUT_NAMES, MASK_NEGATIVE, BertEncoder
from bertkit.core.errors import BertkitError
from bertkit.weights.base import Loader, Pretrained, read_json
from bertkit.weights.mapping import Table, assign_tables, expand, export_tables

NAME = "tfhub_savedmodel"
SAVED_MODEL, VARIABLES, ASSETS = "saved_model.pb", "variables/variables", "assets"
CONFIG_ASSET = "encoder_config.json"  # bertkit's own exports only
FLOAT_DTYPES = {tf.float16.as_datatype_enum, tf.bfloat16.as_datatype_enum, tf.float32.as_datatype_enum,
                tf.float64.as_datatype_enum}

# Model Garden BertEncoder variable name (without ":0") -> (bertkit path, shape).
EMBEDDING_NAMES: Table = {
    "word_embeddings/embeddings": ("embeddings/word_embeddings", "V,H"),
    "position_embedding/embeddings": ("embeddings/position_embeddings", "P,H"),
    "type_embeddings/embeddings": ("embeddings/token_type_embeddings", "T,H"),
    "embeddings/layer_norm/gamma": ("embeddings/layer_norm/gamma", "H"),
    "embeddings/layer_norm/beta": ("embeddings/layer_norm/beta", "H"),
}
LAYER_NAMES: Table = {  # under transformer/layer_{i}/ <-> layer_{i}/
    "self_attention/query/kernel": ("attention/query/kernel", "H,N,D"),
    "self_attention/query/bias": ("attention/query/bias", "N,D"),
    "self_attention/key/kernel": ("attention/key/kernel", "H,N,D"),
    "self_attention/key/bias": ("attention/key/bias", "N,D"),
    "self_attention/value/kernel": ("attention/value/kernel", "H,N,D"),
    "self_attention/value/bias": ("attention/value/bias", "N,D"),
    "self_attention/attention_output/kernel": ("attention/output/kernel", "N,D,H"),
    "self_attention/attention_output/bias": ("attention/output/bias", "H"),
    "self_attention_layer_norm/gamma": ("attention_layer_norm/gamma", "H"),
    "self_attention_layer_norm/beta": ("attention_layer_norm/beta", "H"),
    "intermediate/kernel": ("intermediate/kernel", "H,I"),
    "intermediate/bias": ("intermediate/bias", "I"),
    "output/kernel": ("output/kernel", "I,H"),
    "output/bias": ("output/bias", "H"),
    "output_layer_norm/gamma": ("output_layer_norm/gamma", "H"),
    "output_layer_norm/beta": ("output_layer_norm/beta", "H"),
}
POOLER_NAMES: Table = {
    "pooler_transform/kernel": ("pooler/dense/kernel", "H,H"),
    "pooler_transform/bias": ("pooler/dense/bias", "H"),
}
LAYER_PREFIX = "transformer/layer_{i}/"
# Model Garden's Transformer layer before mid-2020 named the attention output projection so.
ALIASES = {"/self_attention_output/": "/self_attention/attention_output/"}
# Tensors the architecture is read from.
WORD, POSITION, TYPE = "word_embeddings/embeddings", "position_embedding/embeddings", "type_embeddings/embeddings"
QUERY0, INTERMEDIATE0 = "transformer/layer_0/self_attention/query/kernel", "transformer/layer_0/intermediate/kernel"


def name_table(num_layers: int) -> Table:
    return expand(EMBEDDING_NAMES, LAYER_NAMES, POOLER_NAMES, LAYER_PREFIX, num_layers)


def _canonical(name: str) -> str:
    name = re.sub(r":\d+$", "", name)
    for old, new in ALIASES.items():
        name = name.replace(old, new)
    return name


class SavedModelContents:
    """What bertkit reads from a SavedModel folder without running it."""

    def __init__(self, folder: Path):
        self.folder = folder
        proto = saved_model_pb2.SavedModel()
        try:
            proto.ParseFromString((folder / SAVED_MODEL).read_bytes())
            self.reader = tf.train.load_checkpoint(str(folder / VARIABLES))
            self.ckpt_graph = trackable_object_graph_pb2.TrackableObjectGraph()
            self.ckpt_graph.ParseFromString(self.reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
        except (OSError, ValueError, DecodeError, tf.errors.OpError) as e:
            raise BertkitError(f"{folder}: not a readable TF2 SavedModel ({str(e).splitlines()[0]}); are "
                               f"{SAVED_MODEL} and {VARIABLES}.index / .data-* complete?") from None
        if not proto.meta_graphs or not proto.meta_graphs[0].object_graph_def.nodes:
            raise BertkitError(f"{folder}: {SAVED_MODEL} has no TF2 object graph; TF1 SavedModels and TF1 "
                               "Hub modules are not supported; use the TF2 version (/2 or later) of the model.")
        self.meta = proto.meta_graphs[0]
        self.nodes = self.meta.object_graph_def.nodes
        self.checkpoint_node = self._pair_with_checkpoint()

    def _pair_with_checkpoint(self) -> dict[int, int]:
        """SavedModel node id -> checkpoint node id, matched by the path of child names from the root."""
        pairs, queue = {0: 0}, [0]
        while queue:
            node = queue.pop(0)
            ckpt_children = {c.local_name: c.node_id for c in self.ckpt_graph.nodes[pairs[node]].children}
            for child in self.nodes[node].children:
                if child.node_id not in pairs and child.local_name in ckpt_children:
                    pairs[child.node_id] = ckpt_children[child.local_name]
                    queue.append(child.node_id)
        return pairs

    def _value(self, node_id: int) -> np.ndarray:
        attributes = self.ckpt_graph.nodes[self.checkpoint_node[node_id]].attributes
        key = next(a.checkpoint_key for a in attributes if a.name == "VARIABLE_VALUE")
        return self.reader.get_tensor(key)

    def float_variables(self) -> dict[str, np.ndarray]:
        """{variable name: value} of every float variable (bool/int ones, e.g. do_lower_case, skipped)."""
        found: dict[str, np.ndarray] = {}
        for node_id in self.checkpoint_node:
            node = self.nodes[node_id]
            if node.WhichOneof("kind") != "variable" or node.variable.dtype not in FLOAT_DTYPES:
                continue
            name = _canonical(node.variable.name)
            if not name:
                raise BertkitError(f"{self.folder}: a variable of the SavedModel has no name; bertkit maps "
                                   "variables by name (SavedModels written by TF >= 2.2 have them).")
            if name in found:
                raise BertkitError(f"{self.folder}: two variables are named {name!r}; cannot tell them apart.")
            found[name] = self._value(node_id)
        return found

    def root_child(self, name: str):
        """(node id, node) of the root attribute `name`, or None."""
        for child in self.nodes[0].children:
            if child.local_name == name:
                return child.node_id, self.nodes[child.node_id]
        return None

    def vocab_file(self) -> Path:
        child = self.root_child("vocab_file")
        if child is not None and child[1].WhichOneof("kind") == "asset":
            filename = self.meta.asset_file_def[child[1].asset.asset_file_def_index].filename
            return self.folder / ASSETS / filename
        raise BertkitError(f"{self.folder}: the SavedModel has no vocab_file attribute. TF Hub BERT encoders "
                           "carry their vocabulary (assets/vocab.txt) and do_lower_case; is this the encoder "
                           "(not the preprocessing model) of a TF Hub BERT?")

    def do_lower_case(self) -> bool:
        child = self.root_child("do_lower_case")
        if child is None or child[1].WhichOneof("kind") != "variable" or child[0] not in self.checkpoint_node:
            raise BertkitError(f"{self.folder}: the SavedModel has no do_lower_case attribute, so its casing is "
                               "unknown; TF Hub BERT encoders carry it next to vocab_file.")
        return bool(self._value(child[0]))


def _need(tensors: dict[str, np.ndarray], name: str, rank: int, source: str) -> tuple[int, ...]:
    if name not in tensors:
        raise BertkitError(f"{source}: missing tensor {name}; is this a TF Hub BERT encoder SavedModel?")
    shape = tuple(tensors[name].shape)
    if len(shape) != rank:
        raise BertkitError(f"{source}: tensor {name} has shape {list(shape)}; expected rank {rank}.")
    return shape


def infer_config(tensors: dict[str, np.ndarray], extra: dict, source: str) -> EncoderConfig:
    """The architecture from the tensor shapes; `extra` adds what shapes cannot tell (dropout, eps)."""
    vocab_size, hidden = _need(tensors, WORD, 2, source)
    hidden_q, num_heads, _ = _need(tensors, QUERY0, 3, source)
    layers = {int(m.group(1)) for name in tensors if (m := re.match(r"transformer/layer_(\d+)/", name))}
    if hidden_q != hidden or num_heads < 1 or hidden % num_heads:
        raise BertkitError(f"{source}: tensor {QUERY0} has shape {list(tensors[QUERY0].shape)}; with hidden size "
                           f"{hidden} it must be [{hidden}, heads, {hidden} // heads].")
    return EncoderConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_layers=max(layers) + 1, num_heads=num_heads,
        intermediate_size=_need(tensors, INTERMEDIATE0, 2, source)[1],
        max_position_embeddings=_need(tensors, POSITION, 2, source)[0],
        type_vocab_size=_need(tensors, TYPE, 2, source)[0],
        **{k: extra[k] for k in ("dropout", "attention_dropout", "layer_norm_eps", "initializer_range") if k in extra})


def detect(folder: Path) -> bool:
    return (folder / SAVED_MODEL).is_file() and (folder / "variables").is_dir()


def load(folder: Path) -> Pretrained:
    """Loads a TF Hub BERT SavedModel folder into a new `BertEncoder` (see the module docstring).

    Args:
        folder: a TF2 SavedModel of a BERT encoder with `vocab_file` and `do_lower_case` attributes.

    Returns:
        The `Pretrained` encoder, its config, the SavedModel's vocabulary and casing (pooling "cls").
    """
    contents = SavedModelContents(folder)
    vocab_file = contents.vocab_file()
    contents.do_lower_case()  # the tokenizer reads it too; an encoder without one is refused here
    if not vocab_file.is_file():
        raise BertkitError(f"{folder}: the SavedModel's vocab_file {vocab_file} is missing; copy the whole folder.")
    tensors = contents.float_variables()
    config_asset = folder / ASSETS / CONFIG_ASSET
    extra = read_json(config_asset) if config_asset.is_file() else {}
    config = infer_config(tensors, extra, str(folder))
    encoder = BertEncoder(config)
    assign_tables(encoder, tensors, name_table(config.num_layers), str(folder),
                  "is this a complete TF Hub BERT encoder (Model Garden BertEncoder) SavedModel?")
    return Pretrained(encoder=encoder, encoder_config=config, source_format=NAME, default_pooling="cls",
                      folder=folder)


LOADER = Loader(expects=f"{SAVED_MODEL}, {VARIABLES}.*, {ASSETS}/vocab.txt (a TF Hub BERT encoder)",
                detect=detect, load=load)


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

    def _block(self, x, key_is_real, prefix: str, training: bool):  # x: [B, T, H]
        c = self.config
        att = prefix + "self_attention/"
        q = tf.einsum("bth,hnd->btnd", x, self._w(att + "query/kernel")) + self._w(att + "query/bias")
        k = tf.einsum("bth,hnd->btnd", x, self._w(att + "key/kernel")) + self._w(att + "key/bias")
        v = tf.einsum("bth,hnd->btnd", x, self._w(att + "value/kernel")) + self._w(att + "value/bias")
        q *= 1.0 / math.sqrt(c.hidden_size // c.num_heads)  # [B, T, N, D]
        scores = tf.einsum("btnd,bsnd->bnts", q, k)  # [B, N, T, T]
        scores = tf.where(key_is_real[:, None, None, :], scores, MASK_NEGATIVE)  # a select, as in the encoder
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
        key_is_real = tf.cast(mask, tf.bool)  # [B, T]
        encoder_outputs = []
        for i in range(self.config.num_layers):
            x = self._block(x, key_is_real, f"transformer/layer_{i}/", training)
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
    call = graph.function(module.call)
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
