"""Export an encoder to another format: `export_encoder(model, format, output)`.

`model` is a pretrained folder in any format bertkit reads (or a TF Hub handle), or a bertkit run /
bundle folder, whose fine-tuned encoder is exported. One writer per format, in the plain dict
`EXPORTERS`; each takes `(encoder, vocab_file, do_lower_case, out_dir)` and writes atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from bertkit.errors import BertkitError

EXPORT_FORMATS = ("tfhub", "hf", "tf1")


def _exporter(fmt: str):
    if fmt == "tfhub":
        from bertkit.export.tfhub import save_tfhub

        return save_tfhub
    if fmt == "hf":
        from bertkit.weights import save_hf

        return save_hf
    if fmt == "tf1":
        from bertkit.weights import save_tf1

        return save_tf1
    raise BertkitError(f"--format {fmt!r} is not one of {list(EXPORT_FORMATS)}.")


def encoder_of(model: str | os.PathLike):
    """(encoder, vocab_file, do_lower_case, what) for a pretrained folder / handle or a bertkit bundle."""
    from bertkit import bundle

    if not str(model).startswith(("https://", "http://", "gs://")) and bundle.bundle_exists(model):
        from bertkit.api import load
        from bertkit.encoder import BertEncoder

        loaded = load(model)
        encoder = getattr(loaded.model, "encoder", None)
        if not isinstance(encoder, BertEncoder):
            raise BertkitError(f"{model}: this bundle's model has no BertEncoder to export.")
        return encoder, loaded.vocab_file, loaded.preprocess.do_lower_case, f"fine-tuned encoder of {loaded.path}"
    from bertkit.weights import load_pretrained

    pretrained = load_pretrained(model)
    return pretrained.encoder, pretrained.vocab_file, pretrained.do_lower_case, pretrained.source_format


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
    encoder, vocab_file, do_lower_case, _ = encoder_of(model)
    save(encoder, vocab_file, do_lower_case, str(output))
    return output
