"""Export an encoder to another format: `export_encoder(model, format, output)`.

`model` is a pretrained folder in any format bertkit reads (or a TF Hub handle), or a bertkit run /
bundle folder, whose fine-tuned encoder is exported. Each format's writer lives with its reader in
`bertkit.weights`, takes `(encoder, vocab_file, do_lower_case, out_dir)` and writes atomically; a WordPiece
tokenizer read from a tokenizer.json gives its vocabulary as vocab.txt
(tfhub, tf1); a HF folder gets the model's own tokenizer files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bertkit.core.errors import BertkitError

# format -> the module in bertkit.weights and its writer (imported when used: no TensorFlow for the CLI's --help)
EXPORT_FORMATS = {"tfhub": ("tfhub_savedmodel", "save_tfhub"), "hf": ("hf_safetensors", "save_hf"),
                  "tf1": ("tf1_checkpoint", "save_tf1")}


def _exporter(fmt: str):
    if fmt not in EXPORT_FORMATS:
        raise BertkitError(f"--format {fmt!r} is not one of {list(EXPORT_FORMATS)}.")
    import importlib

    module, name = EXPORT_FORMATS[fmt]
    return getattr(importlib.import_module(f"bertkit.weights.{module}"), name)


def encoder_of(model: str | os.PathLike):
    """(encoder, tokenizer, what) for a pretrained folder / handle or a bertkit bundle."""
    from bertkit.core import bundle
    from bertkit.weights.hub_handles import is_hub_handle

    if not is_hub_handle(model) and bundle.bundle_exists(model):
        from bertkit.api import load

        loaded = load(model)
        encoder = getattr(loaded.model, "encoder", None)
        if not hasattr(encoder, "named_variables"):
            raise BertkitError(f"{model}: this bundle's model has no encoder to export.")
        return encoder, loaded.tokenizer, f"fine-tuned encoder of {loaded.path}"
    from bertkit.weights import load_pretrained

    pretrained = load_pretrained(model)
    return pretrained.encoder, pretrained.tokenizer, pretrained.source_format


def export_encoder(model: str | os.PathLike, format: str, output: str | os.PathLike) -> Path:
    """Writes the encoder of `model` to `output` in `format`.

    Args:
        model: a pretrained encoder folder (HF, Google TF1 checkpoint, TF Hub SavedModel), a TF Hub
            handle, or a bertkit run / model bundle folder (its fine-tuned encoder).
        format: "tfhub" (TF Hub BERT SavedModel), "hf" (config.json + model.safetensors) or "tf1"
            (bert_config.json + bert_model.ckpt).
        output: the folder to write (replaced atomically if it exists).

    Returns:
        The output folder.
    """
    save = _exporter(format)
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise BertkitError(f"--output {output}: exists and is a file; pass a folder path.")
    encoder, tokenizer, what = encoder_of(model)
    family = encoder.config.model_type
    if format in ("tfhub", "tf1") and family != "bert":
        raise BertkitError(f"{model}: a {family} encoder has no {format} layout (TF Hub and Google checkpoints are "
                           "BERT's); export it with --format hf.")
    if format == "hf":  # a HF folder carries the model's own tokenizer files, whatever their kind
        save(encoder, None, tokenizer.do_lower_case, str(output), tokenizer_files=tokenizer.files())
        return output
    with tempfile.TemporaryDirectory() as tmp:
        save(encoder, _vocab_file(tokenizer, Path(tmp), model, format, what), tokenizer.do_lower_case, str(output))
    return output


def _vocab_file(tokenizer, tmp: Path, model, format: str, what: str) -> str:
    """The WordPiece vocab.txt the encoder formats carry: the tokenizer's own, or its vocabulary written out."""
    if getattr(tokenizer, "vocab_file", None) is not None and Path(tokenizer.vocab_file).name == "vocab.txt":
        return str(tokenizer.vocab_file)
    if getattr(tokenizer, "model_type", None) == "WordPiece":
        (tmp / "vocab.txt").write_text("".join(t + "\n" for t in tokenizer.vocab), encoding="utf-8")
        return str(tmp / "vocab.txt")
    raise BertkitError(f"{model}: the {format} encoder format carries a WordPiece vocab.txt, and this model's "
                       f"tokenizer ({tokenizer.kind}) is not WordPiece ({what}); export the model with `bertkit "
                       "export` instead.")
