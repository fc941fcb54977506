"""Export a fine-tuned bundle as a TF SavedModel that takes raw text (no tokenizer in the client).

    DIR/
      saved_model.pb, variables/   serving_default(<the task's string inputs> [B]) -> the task's outputs
                                   (each task's `serving_signature()`: classify `probabilities`, `label`;
                                   multilabel `probabilities`, `labels`; regression `score`; ner words,
                                   tags and entities with offsets; qa the answer and the n-best answers)
      assets/                      the tokenizer's files and tokenizer_config.json (tracked, so DIR is
                                   self-contained; `bertkit.load_tokenizer(DIR)` rebuilds the tokenizer)
      assets.extra/                bertkit_export.json (task, labels, inputs, outputs, preprocessing)
                                   and the bundle's configs, for the server's metadata

The signature is the task's own `encode`, the model and the task's own `decode` in one graph
(`TaskRunner.serving_function`): the very functions `predict` runs, so the export gives its numbers.
Loading needs TensorFlow and `import tensorflow_text` (which registers the tokenizer ops), not bertkit.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from bertkit.core import graph
from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_directory

SIGNATURE = "serving_default"
EXTRA = "assets.extra"
EXPORT_INFO = "bertkit_export.json"
FORMAT_VERSION = 1
CONFIG_FILES = ("bertkit.json", "encoder_config.json", "preprocess_config.json", "task_config.json",
                "train_config.json", "metrics.json")
TOLERANCE = 1e-5  # export vs predict, relative to the value's size for values above 1 (logit scores)


class ServingModule(tf.Module):
    """What the SavedModel holds: the Keras model (its variables), the tokenizer's lookup tables and its
    files as assets.

    The tokenizer's normalizer and WordPiece / SentencePiece models are constants in the graph; its hash
    tables are resources, tracked here. Its files are tracked as assets anyway, so a client can read the
    exact training vocabulary from `DIR/assets/` and `bertkit.load_tokenizer(DIR)` can rebuild it.
    """

    def __init__(self, keras_model, tokenizer, staging: Path):
        super().__init__(name="bertkit_serving")
        self.model = keras_model
        self.tokenizer_tables = list(tokenizer.resources())
        tokenizer.save(staging)
        self.tokenizer_files = [tf.saved_model.Asset(str(path)) for path in sorted(staging.iterdir())]


def export_model(model, output, *, verify: bool = True) -> Path:
    """Writes `model` as a raw-text SavedModel to `output` (atomically).

    Args:
        model: a run folder or bundle from `bertkit train`, or a loaded `BertkitModel`.
        output: the SavedModel folder to write; an existing earlier export there is replaced.
        verify: reload the written SavedModel and check every output against `predict` on a few
            probe texts (empty, non-ASCII, long) before publishing it.

    Returns:
        The output folder.
    """
    from bertkit.api import BertkitModel, load

    output = Path(output)
    if output.exists() and not output.is_dir():
        raise BertkitError(f"{output}: exists and is a file; choose a folder for --output.")
    if output.is_dir() and any(output.iterdir()) and not is_export(output):
        raise BertkitError(f"{output}: exists and is not a bertkit export (no saved_model.pb and "
                           f"{EXTRA}/{EXPORT_INFO}); choose an empty or new folder for --output.")
    bm = model if isinstance(model, BertkitModel) else load(model)
    if bm.path is not None and output.resolve() in (Path(bm.path).resolve(), *Path(bm.path).resolve().parents):
        raise BertkitError(f"{output}: would replace the model being exported ({bm.path}); choose another folder.")
    signature = bm.task.serving_signature()
    staging = Path(tempfile.mkdtemp(prefix="bertkit_tokenizer_"))
    try:
        _save(bm, output, signature, ServingModule(bm.model, bm.tokenizer, staging), verify)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output


def _save(bm, output: Path, signature, module: ServingModule, verify: bool) -> None:
    specs = [tf.TensorSpec([None], tf.string, name=name) for name in signature.inputs]
    serve = bm.runner.serving_function()
    module.serve = graph.function(lambda *inputs: serve(**dict(zip(signature.inputs, inputs))), input_signature=specs)
    concrete = module.serve.get_concrete_function()
    info = {
        "format_version": FORMAT_VERSION, "task": bm.task_config.task, "signature": SIGNATURE,
        "inputs": list(signature.inputs), "outputs": {k: o.description for k, o in signature.outputs.items()},
        **signature.info, "preprocess": bm.preprocess.to_dict(), "source_model": str(bm.path or ""),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with atomic_directory(output) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={SIGNATURE: concrete})
        extra = tmp / EXTRA
        extra.mkdir()
        (extra / EXPORT_INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _copy_configs(bm, extra)
        if verify:
            _verify(tmp, bm, signature)


def is_export(path) -> bool:
    """True if `path` is a SavedModel folder written by `export_model`."""
    path = Path(path)
    return (path / "saved_model.pb").exists() and (path / EXTRA / EXPORT_INFO).exists()


def _copy_configs(bm, extra: Path) -> None:
    if bm.path is not None:
        for name in CONFIG_FILES:
            if (Path(bm.path) / name).exists():
                shutil.copyfile(Path(bm.path) / name, extra / name)
        return
    bm.encoder_config.save(extra / "encoder_config.json")  # an in-memory model: its configs
    bm.preprocess.save(extra / "preprocess_config.json")
    bm.task_config.save(extra / "task_config.json")


def probe_inputs(inputs: tuple) -> list:
    """A few inputs that exercise the edge cases: empty, non-ASCII, longer than max_seq_length."""
    texts = ["", "The film was creative and surprising!", "Ça m'a plu — 素晴らしい 🎬",
             "a long review, " * 300 + "and the ending was awful."]
    if len(inputs) == 1:
        return texts
    return [(a, b) for a, b in zip(texts, reversed(texts))]


def _verify(folder: Path, bm, signature) -> None:
    """Reloads the SavedModel at `folder` and compares each output with `predict` on probe inputs."""
    probes = probe_inputs(signature.inputs)
    columns = [probes] if len(signature.inputs) == 1 else [list(c) for c in zip(*probes)]
    fn = tf.saved_model.load(str(folder)).signatures[SIGNATURE]
    got = fn(**{name: tf.constant(col) for name, col in zip(signature.inputs, columns)})
    worst = largest_difference({k: v.numpy() for k, v in got.items()}, bm.predictions(probes), signature)
    if worst > TOLERANCE:  # a bertkit bug, not a user error: stop before publishing the export
        raise RuntimeError(f"export check failed: the SavedModel differs from predict by {worst:.2e} on the probes.")


def largest_difference(exported: dict, predicted: dict, signature) -> float:
    """The largest difference between a SavedModel's outputs and `predict`'s for the same inputs (per-example
    lists padded as the signature pads them): numbers relative to their size above 1, infinite for any
    different string, integer or shape."""
    worst = 0.0
    for name, spec in signature.outputs.items():
        for got, want in zip(exported[name], predicted[name]):
            got, want = np.asarray(got), np.asarray(want)
            if spec.pad is not None:  # a per-example list: padded to the batch's longest
                if any(w > g for w, g in zip(want.shape, got.shape)):
                    return float("inf")
                full = np.full(got.shape, spec.pad, dtype=want.dtype)
                full[tuple(slice(0, n) for n in want.shape)] = want
                want = full
            if got.shape != want.shape:
                return float("inf")
            worst = max(worst, _difference(got, want))
    return worst


def _difference(got: np.ndarray, want: np.ndarray) -> float:
    if want.dtype.kind in "OUS" or got.dtype.kind in "OUS":  # strings
        same = [g.decode("utf-8") if isinstance(g, bytes) else str(g) for g in got.reshape(-1)] == \
            [str(w) for w in want.reshape(-1)]
        return 0.0 if same else float("inf")
    if np.issubdtype(want.dtype, np.integer) or want.dtype == bool:
        return 0.0 if np.array_equal(got, want) else float("inf")
    scale = np.maximum(1.0, np.abs(want))
    return float(np.max(np.abs(got.astype(np.float64) - want) / scale, initial=0.0))
