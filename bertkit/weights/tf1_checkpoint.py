"""Google's original TF1 BERT checkpoints: `bert_config.json`, `bert_model.ckpt.{index,data-*}`, `vocab.txt`.

This is the layout of google-research/bert's zips (`uncased_L-12_H-768_A-12.zip`, the 24 BERT
miniatures `uncased_L-4_H-256_A-4.zip`, ...). Tensors are read with `tf.train.load_checkpoint`
(no TF1 graph code) and copied through the explicit table below. Tensors outside `bert/` (the
pre-training heads `cls/...`, `global_step`, a run_classifier head) are skipped with a warning;
optimizer slots (`.../adam_m`, `.../adam_v`, ...) are skipped silently.

Casing: the zips say it only in their folder name, which bertkit does not trust. `do_lower_case`
is read from bert_config.json when present (bertkit's own export writes it); otherwise it follows
from the vocabulary itself: a vocabulary without any upper-case word is an uncased model.

Activation: Google's code computes "gelu" with the tanh approximation; bertkit (like Hugging
Face's conversion of the same checkpoints) runs the exact erf GELU. The two differ by < 1e-3 per
activation; fine-tuning absorbs it.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from bertkit.core.config import EncoderConfig
from bertkit.modeling.encoder import BertEncoder
from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_directory
from bertkit.weights.base import Loader, Pretrained, read_json
from bertkit.weights.hf_families import BERT_KEYS as CONFIG_KEYS
from bertkit.weights.mapping import Table, assign_tables, expand, export_tables

NAME = "tf1_checkpoint"
CONFIG_FILE, VOCAB_FILE, CHECKPOINT_PREFIX = "bert_config.json", "vocab.txt", "bert_model.ckpt"
ENCODER_SCOPE = "bert/"
# Slot variables optimizers add next to each weight; never part of the model.
OPTIMIZER_SLOTS = ("/adam_m", "/adam_v", "/lamb_m", "/lamb_v", "/Adam", "/Adam_1", "/Momentum",
                   "/ExponentialMovingAverage")

# google-research/bert modeling.py name -> (bertkit path, shape). Kernels are [in, out] in both.
EMBEDDING_NAMES: Table = {
    "bert/embeddings/word_embeddings": ("embeddings/word_embeddings", "V,H"),
    "bert/embeddings/position_embeddings": ("embeddings/position_embeddings", "P,H"),
    "bert/embeddings/token_type_embeddings": ("embeddings/token_type_embeddings", "T,H"),
    "bert/embeddings/LayerNorm/gamma": ("embeddings/layer_norm/gamma", "H"),
    "bert/embeddings/LayerNorm/beta": ("embeddings/layer_norm/beta", "H"),
}
LAYER_NAMES: Table = {  # under bert/encoder/layer_{i}/ <-> layer_{i}/
    "attention/self/query/kernel": ("attention/query/kernel", "H,H"),
    "attention/self/query/bias": ("attention/query/bias", "H"),
    "attention/self/key/kernel": ("attention/key/kernel", "H,H"),
    "attention/self/key/bias": ("attention/key/bias", "H"),
    "attention/self/value/kernel": ("attention/value/kernel", "H,H"),
    "attention/self/value/bias": ("attention/value/bias", "H"),
    "attention/output/dense/kernel": ("attention/output/kernel", "H,H"),
    "attention/output/dense/bias": ("attention/output/bias", "H"),
    "attention/output/LayerNorm/gamma": ("attention_layer_norm/gamma", "H"),
    "attention/output/LayerNorm/beta": ("attention_layer_norm/beta", "H"),
    "intermediate/dense/kernel": ("intermediate/kernel", "H,I"),
    "intermediate/dense/bias": ("intermediate/bias", "I"),
    "output/dense/kernel": ("output/kernel", "I,H"),
    "output/dense/bias": ("output/bias", "H"),
    "output/LayerNorm/gamma": ("output_layer_norm/gamma", "H"),
    "output/LayerNorm/beta": ("output_layer_norm/beta", "H"),
}
POOLER_NAMES: Table = {
    "bert/pooler/dense/kernel": ("pooler/dense/kernel", "H,H"),
    "bert/pooler/dense/bias": ("pooler/dense/bias", "H"),
}


def name_table(num_layers: int) -> Table:
    return expand(EMBEDDING_NAMES, LAYER_NAMES, POOLER_NAMES, "bert/encoder/layer_{i}/", num_layers)


def encoder_config_from_google(config: dict, source: str) -> EncoderConfig:
    """Maps a google-research/bert `bert_config.json` (the HF key names, minus model_type)."""
    if "vocab_size" not in config or "hidden_size" not in config:
        raise BertkitError(f"{source}: not a BERT config (needs vocab_size, hidden_size, num_hidden_layers, ...).")
    if config.get("hidden_act", "gelu") != "gelu":
        raise BertkitError(f"{source}: hidden_act {config['hidden_act']!r} is not supported; only 'gelu'.")
    return EncoderConfig(**{ours: config[key] for ours, key in CONFIG_KEYS.items() if key in config})


def google_config_from_encoder(config: EncoderConfig, do_lower_case: bool) -> dict:
    google = {key: getattr(config, ours) for ours, key in CONFIG_KEYS.items()}
    google["do_lower_case"] = do_lower_case  # an extra key; google-research/bert and HF ignore it
    return google


def checkpoint_prefix(folder: Path) -> Path:
    """`bert_model.ckpt`, else the checkpoint the `checkpoint` file names, else the only `*.index`."""
    if (folder / f"{CHECKPOINT_PREFIX}.index").is_file():
        return folder / CHECKPOINT_PREFIX
    latest = tf.train.latest_checkpoint(str(folder))
    if latest:
        return Path(latest)
    indexes = sorted(folder.glob("*.index"))
    if len(indexes) != 1:
        raise BertkitError(f"{folder}: expected one checkpoint ({CHECKPOINT_PREFIX}.index), found "
                           f"{[p.name for p in indexes] or 'none'}; keep only the one to load.")
    return indexes[0].with_suffix("")


def read_checkpoint(prefix: Path) -> dict[str, np.ndarray]:
    """Reads every tensor of a name-based checkpoint, minus optimizer slots."""
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        names = reader.get_variable_to_shape_map()
        return {name: reader.get_tensor(name) for name in names if not name.endswith(OPTIMIZER_SLOTS)}
    except (tf.errors.OpError, ValueError) as e:
        raise BertkitError(f"{prefix}: not a readable TF checkpoint ({str(e).splitlines()[0]}); are the "
                           ".index and .data-* files both there and complete?") from None


def encoder_tensors(tensors: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """The tensors under `bert/`; the others (task / pre-training heads) are skipped with a warning."""
    heads = sorted(k for k in tensors if not k.startswith(ENCODER_SCOPE))
    if heads:
        warnings.warn(f"{source}: skipping {len(heads)} tensor(s) outside '{ENCODER_SCOPE}' (e.g. {heads[:3]}); "
                      "only the encoder is loaded.", stacklevel=3)
    return {k: v for k, v in tensors.items() if k.startswith(ENCODER_SCOPE)}


def detect(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file() and (
        any(folder.glob("*.index")) or (folder / "checkpoint").is_file())


def load(folder: Path) -> Pretrained:
    """Loads a Google BERT checkpoint folder into a new `BertEncoder`.

    Args:
        folder: holds bert_config.json, bert_model.ckpt.index / .data-*, vocab.txt.

    Returns:
        The `Pretrained` encoder, its config, vocabulary and casing (pooling "cls").
    """
    raw_config = read_json(folder / CONFIG_FILE)
    config = encoder_config_from_google(raw_config, str(folder / CONFIG_FILE))
    if not (folder / VOCAB_FILE).is_file():
        raise BertkitError(f"{folder}: no {VOCAB_FILE}; a Google BERT checkpoint folder ships its vocabulary.")
    prefix = checkpoint_prefix(folder)
    tensors = encoder_tensors(read_checkpoint(prefix), str(prefix))
    encoder = BertEncoder(config)
    assign_tables(encoder, tensors, name_table(config.num_layers), str(prefix),
                  f"is the checkpoint complete and {CONFIG_FILE}'s num_hidden_layers right?")
    return Pretrained(encoder=encoder, encoder_config=config, source_format=NAME, default_pooling="cls",
                      folder=folder)


def save_tf1(encoder: BertEncoder, vocab_file: str, do_lower_case: bool, out_dir: str) -> None:
    """Writes `encoder` as a Google BERT checkpoint folder (what google-research/bert reads).

    Args:
        encoder: the encoder to save.
        vocab_file: its WordPiece vocabulary, copied as vocab.txt.
        do_lower_case: written to bert_config.json.
        out_dir: the folder to write; replaced atomically if it exists.
    """
    tensors = export_tables(encoder, name_table(encoder.config.num_layers))
    with atomic_directory(out_dir) as tmp:
        (tmp / CONFIG_FILE).write_text(
            json.dumps(google_config_from_encoder(encoder.config, do_lower_case), indent=2) + "\n")
        shutil.copyfile(vocab_file, tmp / VOCAB_FILE)
        names = sorted(tensors)
        # A plain name-based V2 checkpoint (.index + .data-00000-of-00001), as tf.compat.v1 Saver writes.
        tf.raw_ops.SaveV2(prefix=str(tmp / CHECKPOINT_PREFIX), tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=[tensors[n] for n in names])


LOADER = Loader(expects=f"{CONFIG_FILE}, {CHECKPOINT_PREFIX}.index + .data-*, {VOCAB_FILE}", detect=detect,
                load=load)
