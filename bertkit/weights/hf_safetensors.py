"""Hugging Face folders: `config.json`, `model.safetensors`, and the tokenizer's files.

Loading reads the tensors with `safetensors.numpy` (no torch) and copies each one through its family's
explicit table (`hf_families`: BERT, DistilBERT, ELECTRA, RoBERTa, XLM-R, MPNet, ALBERT, DeBERTa-v2,
ModernBERT; the family from `config.json`'s `model_type`) into the family's encoder, failing on any
missing, unused or mis-shaped tensor. `save_hf` writes the same layout back, so a bertkit encoder can go to
`transformers`.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import ml_dtypes  # noqa: F401  registers numpy bfloat16, so bf16 checkpoints load
import numpy as np
import safetensors.numpy

from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_directory
from bertkit.modeling.families import build_encoder
from bertkit.weights.base import Loader, Pretrained, read_json, sentence_transformers_pooling
from bertkit.weights.hf_families import FAMILIES, family_of, hf_config
from bertkit.weights.mapping import check_names

NAME = "hf_safetensors"
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE, TOKENIZER_CONFIG = (
    "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json")
# Integer buffers some checkpoints carry, and tables transformers itself ignores: not weights of the encoder.
BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
IGNORED = {"deberta-v2": ("embeddings.position_embeddings.weight",)}


def _encoder_tensors(tensors: dict[str, np.ndarray], model_type: str, source: str) -> dict[str, np.ndarray]:
    """The encoder's tensors: without the task classes' prefix (`bert.`, `roberta.`, `model.`, ...; their head
    tensors skipped with a warning), legacy `LayerNorm.gamma/beta` renamed, buffers dropped."""
    prefix = FAMILIES[model_type].prefix
    if any(k.startswith(prefix) for k in tensors):
        heads = sorted(k for k in tensors if not k.startswith(prefix))
        if heads:
            warnings.warn(f"{source}: skipping {len(heads)} task-head tensor(s) outside '{prefix}' "
                          f"(e.g. {heads[:3]}); only the encoder is loaded.", stacklevel=4)
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    ignored = IGNORED.get(model_type, ())
    return {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
            for k, v in tensors.items() if not k.startswith(BUFFERS) and k not in ignored}


def assign_hf_tensors(encoder, tensors: dict[str, np.ndarray], source: str) -> None:
    """Copies HF-named tensors into `encoder` through its family's table, failing loudly on any mismatch.

    Raises:
        BertkitError: on a missing, unused or mis-shaped tensor, naming it.
    """
    config = encoder.config
    tensors = _encoder_tensors(tensors, config.model_type, source)
    table = FAMILIES[config.model_type].names(config)
    variables = encoder.named_variables()
    assert {ours for ours, _ in table.values()} == set(variables), "name table out of sync with the encoder"
    check_names(table, tensors, source, f"{config.num_layers}-layer {config.model_type}",
                "is the file complete, and does the checkpoint match config.json?")
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


def load_encoder(folder: Path, tensors: dict[str, np.ndarray] | None = None, weights_file: str = WEIGHTS_FILE):
    """The encoder of a HF folder, of its family, with the folder's weights (`tensors` if already read)."""
    source = str(folder / CONFIG_FILE)
    hf = read_json(folder / CONFIG_FILE)
    config = family_of(hf, source).config(hf, source)
    encoder = build_encoder(config)
    assign_hf_tensors(encoder, read_tensors(folder / weights_file) if tensors is None else tensors,
                      str(folder / weights_file))
    return encoder


def detect(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


def pretrained(folder: Path, encoder, source_format: str) -> Pretrained:
    """`Pretrained` for a HF folder's encoder and its recorded pooling; the tokenizer comes from the folder."""
    return Pretrained(encoder=encoder, encoder_config=encoder.config, source_format=source_format,
                      default_pooling=sentence_transformers_pooling(folder), folder=folder)


def load(folder: Path) -> Pretrained:
    """Loads a HF folder (config.json, model.safetensors, its tokenizer files) into a new encoder."""
    return pretrained(folder, load_encoder(folder), NAME)


# The tokenizer class a HF tokenizer_config.json names for each tokenizer file (AutoTokenizer reads it).
TOKENIZER_CLASSES = {"tokenizer.json": "PreTrainedTokenizerFast", "vocab.json": "RobertaTokenizer"}
SPM_CLASSES = {"albert": "AlbertTokenizer", "deberta-v2": "DebertaV2Tokenizer", "xlm-roberta": "XLMRobertaTokenizer"}


def save_hf(encoder, vocab_file: str | None, do_lower_case: bool, out_dir: str,
            tokenizer_files: dict[str, Path] | None = None) -> None:
    """Writes `encoder` as a HF folder of its family that `load` and `transformers` read.

    Args:
        encoder: the encoder to save.
        vocab_file: its WordPiece vocabulary, copied as vocab.txt (None when `tokenizer_files` are given).
        do_lower_case: written to tokenizer_config.json.
        out_dir: the folder to write; replaced atomically if it exists.
        tokenizer_files: {name in the folder: source} of the model's own tokenizer files (`tokenizer.files()`:
            tokenizer.json, a SentencePiece .model, vocab.json + merges.txt or vocab.txt), copied instead.
    """
    config = encoder.config
    variables = encoder.named_variables()
    tensors = {}
    for hf_name, (ours, transpose) in FAMILIES[config.model_type].names(config).items():
        value = np.asarray(variables[ours].numpy(), dtype=np.float32)
        tensors[hf_name] = np.ascontiguousarray(value.T if transpose else value)
    files = dict(tokenizer_files) if tokenizer_files else {VOCAB_FILE: Path(vocab_file)}
    tokenizer_config = {"do_lower_case": do_lower_case, "tokenizer_class": _tokenizer_class(files, config.model_type),
                        "model_max_length": config.max_seq_length}
    with atomic_directory(out_dir) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(hf_config(config), indent=2) + "\n")
        (tmp / TOKENIZER_CONFIG).write_text(json.dumps(tokenizer_config, indent=2) + "\n")
        for name, source in files.items():
            shutil.copyfile(source, tmp / name)
        safetensors.numpy.save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})


def _tokenizer_class(files: dict, model_type: str) -> str:
    for name in files:
        if name in TOKENIZER_CLASSES:
            return TOKENIZER_CLASSES[name]
        if name.endswith(".model"):
            return SPM_CLASSES.get(model_type, "AlbertTokenizer")
    return "MPNetTokenizer" if model_type == "mpnet" else "BertTokenizer"


LOADER = Loader(expects=f"{CONFIG_FILE} (a model_type of {', '.join(FAMILIES)}), {WEIGHTS_FILE}, tokenizer.json or "
                        f"{VOCAB_FILE}",
                detect=detect, load=load)
