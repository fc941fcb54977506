"""Hugging Face BERT folders: `config.json` (model_type bert), `model.safetensors`, `vocab.txt`.

Loading reads the tensors with `safetensors.numpy` (no torch) and copies each one through the
explicit table below into `BertEncoder` variables, failing on any missing, unused or mis-shaped
tensor. `save_hf` writes the same layout back, so a bertkit encoder can go to `transformers`.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import ml_dtypes  # noqa: F401  registers numpy bfloat16, so bf16 checkpoints load
import numpy as np
import safetensors.numpy

from bertkit.core.config import EncoderConfig
from bertkit.modeling.encoder import BertEncoder
from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_directory
from bertkit.weights.base import Loader, Pretrained, read_json, sentence_transformers_pooling

NAME = "hf_safetensors"
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE, TOKENIZER_CONFIG = (
    "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json")
PREFIX = "bert."  # BertForX checkpoints nest the encoder under `bert.`; BertModel ones do not
BUFFERS = {"embeddings.position_ids"}  # a non-trainable buffer some checkpoints carry; skipped

# HF tensor name -> (bertkit variable path, transpose). torch Linear stores [out, in]; Keras
# kernels are [in, out], hence the transpose.
EMBEDDING_NAMES = {
    "embeddings.word_embeddings.weight": ("embeddings/word_embeddings", False),
    "embeddings.position_embeddings.weight": ("embeddings/position_embeddings", False),
    "embeddings.token_type_embeddings.weight": ("embeddings/token_type_embeddings", False),
    "embeddings.LayerNorm.weight": ("embeddings/layer_norm/gamma", False),
    "embeddings.LayerNorm.bias": ("embeddings/layer_norm/beta", False),
}
LAYER_NAMES = {  # under encoder.layer.{i}. <-> layer_{i}/
    "attention.self.query.weight": ("attention/query/kernel", True),
    "attention.self.query.bias": ("attention/query/bias", False),
    "attention.self.key.weight": ("attention/key/kernel", True),
    "attention.self.key.bias": ("attention/key/bias", False),
    "attention.self.value.weight": ("attention/value/kernel", True),
    "attention.self.value.bias": ("attention/value/bias", False),
    "attention.output.dense.weight": ("attention/output/kernel", True),
    "attention.output.dense.bias": ("attention/output/bias", False),
    "attention.output.LayerNorm.weight": ("attention_layer_norm/gamma", False),
    "attention.output.LayerNorm.bias": ("attention_layer_norm/beta", False),
    "intermediate.dense.weight": ("intermediate/kernel", True),
    "intermediate.dense.bias": ("intermediate/bias", False),
    "output.dense.weight": ("output/kernel", True),
    "output.dense.bias": ("output/bias", False),
    "output.LayerNorm.weight": ("output_layer_norm/gamma", False),
    "output.LayerNorm.bias": ("output_layer_norm/beta", False),
}
POOLER_NAMES = {
    "pooler.dense.weight": ("pooler/dense/kernel", True),
    "pooler.dense.bias": ("pooler/dense/bias", False),
}

# EncoderConfig field -> HF config.json key. A key absent from config.json takes the BertConfig
# default, which is also the EncoderConfig default (BERT-base).
CONFIG_KEYS = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "intermediate_size": "intermediate_size",
    "hidden_act": "hidden_act",
    "dropout": "hidden_dropout_prob",
    "attention_dropout": "attention_probs_dropout_prob",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
    "layer_norm_eps": "layer_norm_eps",
    "initializer_range": "initializer_range",
}


def name_map(num_layers: int) -> dict[str, tuple[str, bool]]:
    """Returns the full table {HF name (no `bert.` prefix): (bertkit path, transpose)}."""
    names = dict(EMBEDDING_NAMES)
    for i in range(num_layers):
        for hf, (ours, transpose) in LAYER_NAMES.items():
            names[f"encoder.layer.{i}.{hf}"] = (f"layer_{i}/{ours}", transpose)
    names.update(POOLER_NAMES)
    return names


def encoder_config_from_hf(hf: dict, source: str) -> EncoderConfig:
    """Maps a HF BERT `config.json` dict to an `EncoderConfig`, rejecting what bertkit can't run."""
    if hf.get("model_type") != "bert":
        raise BertkitError(
            f"{source}: model_type is {hf.get('model_type')!r}; bertkit loads only model_type 'bert'."
        )
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise BertkitError(
            f"{source}: position_embedding_type {hf['position_embedding_type']!r} is not supported; "
            "bertkit BERT uses learned 'absolute' position embeddings only."
        )
    if hf.get("hidden_act", "gelu") != "gelu":
        raise BertkitError(
            f"{source}: hidden_act {hf['hidden_act']!r} is not supported; bertkit BERT uses the exact "
            "erf GELU, which HF calls 'gelu' (the tanh approximations 'gelu_new' etc. would drift)."
        )
    if hf.get("is_decoder") or hf.get("add_cross_attention"):
        raise BertkitError(f"{source}: a decoder BERT (is_decoder / add_cross_attention) is not supported.")
    return EncoderConfig(**{ours: hf[key] for ours, key in CONFIG_KEYS.items() if key in hf})


def hf_config_from_encoder(config: EncoderConfig) -> dict:
    """The inverse of `encoder_config_from_hf`: a `config.json` that `transformers.BertModel` reads."""
    hf = {key: getattr(config, ours) for ours, key in CONFIG_KEYS.items()}
    hf.update(model_type="bert", architectures=["BertModel"], position_embedding_type="absolute",
              pad_token_id=0)
    return hf


def split_prefix(tensors: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """Strips the `bert.` prefix of BertForX checkpoints; their task-head tensors are not loaded."""
    if not any(k.startswith(PREFIX) for k in tensors):
        return tensors
    heads = sorted(k for k in tensors if not k.startswith(PREFIX))
    if heads:
        warnings.warn(f"{source}: skipping {len(heads)} task-head tensor(s) outside '{PREFIX}' "
                      f"(e.g. {heads[:3]}); only the encoder is loaded.", stacklevel=3)
    return {k[len(PREFIX):]: v for k, v in tensors.items() if k.startswith(PREFIX)}


def assign_hf_tensors(encoder: BertEncoder, tensors: dict[str, np.ndarray], source: str) -> None:
    """Copies HF-named tensors into `encoder`, failing loudly on any mismatch.

    Args:
        encoder: the freshly built encoder whose variables are overwritten.
        tensors: {HF name: array}, with or without the `bert.` prefix; old `LayerNorm.gamma/beta`
            names are accepted for `LayerNorm.weight/bias`.
        source: the file the tensors came from, named in error messages.

    Raises:
        BertkitError: on a missing, unused or mis-shaped tensor.
    """
    tensors = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
               for k, v in split_prefix(tensors, source).items()}
    table = name_map(encoder.config.num_layers)
    variables = encoder.named_variables()
    assert {ours for ours, _ in table.values()} == set(variables), "name table out of sync with BertEncoder"

    missing = [k for k in table if k not in tensors]
    if missing:
        raise BertkitError(f"{source}: missing tensor(s) {missing[:8]}{' ...' if len(missing) > 8 else ''} "
                           f"({len(missing)} in all) for a {encoder.config.num_layers}-layer BERT; is the file "
                           "complete and config.json's num_hidden_layers right?")
    unused = sorted(set(tensors) - set(table) - BUFFERS)
    if unused:
        raise BertkitError(f"{source}: unexpected tensor(s) {unused[:8]}{' ...' if len(unused) > 8 else ''} "
                           f"({len(unused)} in all) that a BERT encoder has no place for; is this a BERT "
                           "checkpoint matching config.json?")
    for hf_name, (ours, transpose) in table.items():
        value = tensors[hf_name].T if transpose else tensors[hf_name]
        variable = variables[ours]
        if tuple(value.shape) != tuple(variable.shape):
            raise BertkitError(f"{source}: tensor {hf_name} has shape {list(tensors[hf_name].shape)}; the "
                               f"config implies {list(variable.shape[::-1] if transpose else variable.shape)}.")
        variable.assign(np.asarray(value, dtype=np.float32))


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    try:
        return safetensors.numpy.load_file(str(path))
    except FileNotFoundError:
        raise BertkitError(f"{path}: file not found.") from None
    except (OSError, ValueError, safetensors.SafetensorError) as e:
        raise BertkitError(f"{path}: not a readable safetensors file ({e}).") from None


def detect(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


def load(folder: Path) -> Pretrained:
    """Loads a HF BERT folder into a new `BertEncoder`.

    Args:
        folder: holds config.json, model.safetensors and the tokenizer files (tokenizer.json or vocab.txt
            with tokenizer_config.json, see `bertkit.tokenization.loading`).

    Returns:
        The `Pretrained` encoder, its config and default pooling; its tokenizer comes from the folder.
    """
    config = encoder_config_from_hf(read_json(folder / CONFIG_FILE), str(folder / CONFIG_FILE))
    encoder = BertEncoder(config)
    assign_hf_tensors(encoder, read_tensors(folder / WEIGHTS_FILE), str(folder / WEIGHTS_FILE))
    return Pretrained(encoder=encoder, encoder_config=config, source_format=NAME,
                      default_pooling=sentence_transformers_pooling(folder), folder=folder)


def save_hf(encoder: BertEncoder, vocab_file: str, do_lower_case: bool, out_dir: str) -> None:
    """Writes `encoder` as a HF BERT folder that `load` and `transformers.BertModel` read.

    Args:
        encoder: the encoder to save.
        vocab_file: its WordPiece vocabulary, copied as vocab.txt.
        do_lower_case: written to tokenizer_config.json.
        out_dir: the folder to write; replaced atomically if it exists.
    """
    variables = encoder.named_variables()
    tensors = {}
    for hf_name, (ours, transpose) in name_map(encoder.config.num_layers).items():
        value = np.asarray(variables[ours].numpy(), dtype=np.float32)
        tensors[hf_name] = np.ascontiguousarray(value.T if transpose else value)
    tokenizer_config = {"do_lower_case": do_lower_case, "tokenizer_class": "BertTokenizer",
                        "model_max_length": encoder.config.max_position_embeddings}
    with atomic_directory(out_dir) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(hf_config_from_encoder(encoder.config), indent=2) + "\n")
        (tmp / TOKENIZER_CONFIG).write_text(json.dumps(tokenizer_config, indent=2) + "\n")
        shutil.copyfile(vocab_file, tmp / VOCAB_FILE)
        safetensors.numpy.save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})


LOADER = Loader(expects=f"{CONFIG_FILE} (model_type bert), {WEIGHTS_FILE}, tokenizer.json or {VOCAB_FILE}",
                detect=detect, load=load)
