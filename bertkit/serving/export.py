"""Export a fine-tuned bundle as a TF SavedModel that takes raw text (no tokenizer in the client).

    DIR/
      saved_model.pb, variables/   serving_default(text: string [B] (, text_b: string [B])) ->
                                     classify:   probabilities float32 [B, K], label string [B]
                                     multilabel: probabilities float32 [B, K], labels string [B] ("A|B")
                                     regression: score float64 [B]
                                     ner:        words, tags, entities with offsets (export_ner)
                                   (question [B], context [B]) ->
                                     qa:         answer, offsets, score, n-best answers (export_qa)
      assets/vocab.txt             the training vocabulary (tracked, so DIR is self-contained)
      assets.extra/                bertkit_export.json (task, labels, inputs, outputs, preprocessing)
                                   and the bundle's configs, for the server's metadata

Tokenization and packing are the same graph functions training used (`Tokenizer`, `pack_inputs`,
with the bundle's vocabulary, casing, max_seq_length and truncation), so the exported model gives
`BertkitModel.predict` probabilities. Loading needs TensorFlow and `import tensorflow_text` (which
registers the WordPiece ops), not bertkit.

Signatures are built per task by a function in the plain dict `SIGNATURE_BUILDERS`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from bertkit.errors import BertkitError
from bertkit.io_utils import atomic_directory
from bertkit.pipeline import make_encode_fn

SIGNATURE = "serving_default"
EXTRA = "assets.extra"
EXPORT_INFO = "bertkit_export.json"
FORMAT_VERSION = 1
CONFIG_FILES = ("bertkit.json", "encoder_config.json", "preprocess_config.json", "task_config.json",
                "train_config.json", "metrics.json")


@dataclasses.dataclass(frozen=True)
class ServingSignature:
    """What a task exports: named string inputs `[B]` and a graph function returning named outputs.

    Attributes:
        inputs: input names, in signature order (e.g. ("text",) or ("text", "text_b")).
        outputs: output name -> one-line description (for the metadata).
        fn: `fn(**{name: string [B]}) -> {output name: tensor [B, ...]}`, traceable by tf.function.
        info: task facts for clients and the page (labels, ...), JSON-serialisable.
        scores: the output equal to `BertkitModel.predict_scores` (checked after export).
        compare: for scores that are not arrays (qa's n-best lists): `compare(outputs, expected)` ->
            the largest difference, infinite for a mismatch; None compares `outputs[scores]` numerically.
    """

    inputs: tuple
    outputs: dict
    fn: Callable
    info: dict
    scores: str
    compare: Callable | None = None


def _text_inputs(model) -> tuple:
    return ("text", "text_b") if model.task.config.is_pair else ("text",)


def _pooled_logits(model):
    """`(text [B], text_b [B] or None) -> float32 head outputs [B, units]`, as the training pipeline feeds them."""
    encode = make_encode_fn(model.task.tokenizer, model.preprocess, model.task.config.is_pair)
    keras_model = model.model

    def logits(text, text_b):
        features = encode({"text_a": text, "text_b": text_b})  # each int32 [B, T]
        return tf.cast(keras_model(features, training=False), tf.float32)  # [B, units]

    return logits


def classify_signature(model) -> ServingSignature:
    """`text` (and `text_b` for pair tasks) -> `probabilities` `[B, K]` and the argmax `label` `[B]`."""
    task = model.task
    labels = tf.constant(list(task.config.labels), tf.string)  # [K]
    head = _pooled_logits(model)

    def probabilities_of(text, text_b):
        logits = head(text, text_b)  # [B, 1] binary, else [B, K]
        if task.binary:  # the tutorial's single sigmoid unit: [1 - p, p], as ClassifyTask.probabilities
            p = tf.sigmoid(logits[:, 0])  # [B]
            return tf.stack([1.0 - p, p], axis=1)  # [B, 2]
        return tf.nn.softmax(logits, axis=-1)  # [B, K]

    def serve(text, text_b=None):
        probabilities = probabilities_of(text, text_b)  # [B, K]
        if task.symmetric:  # the mean over both orders of the pair, as ClassifyTask.predict_outputs
            probabilities = (probabilities + probabilities_of(text_b, text)) / 2
        label = tf.gather(labels, tf.argmax(probabilities, axis=1))  # [B]
        return {"probabilities": probabilities, "label": label}

    return ServingSignature(
        inputs=_text_inputs(model),
        outputs={"probabilities": f"float32 [B, {len(task.config.labels)}], in the order of `labels`",
                 "label": "string [B], the most probable label"},
        fn=serve,
        info={"labels": list(task.config.labels), "is_pair": task.config.is_pair},
        scores="probabilities",
    )


def multilabel_signature(model) -> ServingSignature:
    """`text` (, `text_b`) -> per-label sigmoid `probabilities` `[B, K]` and `labels` `[B]`: the names
    above the task's threshold joined by "|" (bertkit's CSV form of a label set; "" for none)."""
    config = model.task.config
    threshold = float(config.extra.get("threshold", 0.5))
    names = tf.constant(list(config.labels), tf.string)  # [K]
    head = _pooled_logits(model)

    def serve(text, text_b=None):
        probabilities = tf.sigmoid(head(text, text_b))  # [B, K]
        chosen = tf.ragged.boolean_mask(tf.broadcast_to(names, tf.shape(probabilities)), probabilities > threshold)
        return {"probabilities": probabilities, "labels": tf.strings.reduce_join(chosen, axis=1, separator="|")}

    return ServingSignature(
        inputs=_text_inputs(model),
        outputs={"probabilities": f"float32 [B, {len(config.labels)}], one sigmoid per label",
                 "labels": f"string [B], the labels with probability > {threshold} joined by '|'"},
        fn=serve,
        info={"labels": list(config.labels), "is_pair": config.is_pair, "threshold": threshold},
        scores="probabilities",
    )


def regression_signature(model) -> ServingSignature:
    """`text` (, `text_b`) -> `score` `[B]` in the training targets' units (float64, as `predict`)."""
    config = model.task.config
    mean, std = float(config.extra["target_mean"]), float(config.extra["target_std"])
    head = _pooled_logits(model)

    def serve(text, text_b=None):
        return {"score": tf.cast(head(text, text_b)[:, 0], tf.float64) * std + mean}  # [B]

    return ServingSignature(
        inputs=_text_inputs(model),
        outputs={"score": "float64 [B], the predicted score"},
        fn=serve,
        info={"labels": [], "is_pair": config.is_pair},
        scores="score",
    )


def ner_signature(model) -> ServingSignature:
    """`text` -> words, tags and entities with character offsets (`bertkit.serving.export_ner`)."""
    from bertkit.serving.export_ner import ner_signature as build

    return build(model)


def qa_signature(model) -> ServingSignature:
    """`question`, `context` -> the answer and the n-best answers with character offsets
    (`bertkit.serving.export_qa`)."""
    from bertkit.serving.export_qa import qa_signature as build

    return build(model)


SIGNATURE_BUILDERS: dict[str, Callable[..., ServingSignature]] = {
    "classify": classify_signature,
    "multilabel": multilabel_signature,
    "regression": regression_signature,
    "ner": ner_signature,
    "qa": qa_signature,
}


def signature_builder(task_name: str) -> Callable[..., ServingSignature]:
    """The `SIGNATURE_BUILDERS` entry for `task_name`, or a BertkitError saying what is missing."""
    if task_name not in SIGNATURE_BUILDERS:
        raise BertkitError(f"export for task {task_name!r} is not available yet; models of the task(s) "
                           f"{', '.join(sorted(SIGNATURE_BUILDERS))} can be exported.")
    return SIGNATURE_BUILDERS[task_name]


class ServingModule(tf.Module):
    """What the SavedModel holds: the Keras model (its variables) and the vocabulary asset.

    The tokenizer needs no tracking: its normalizer and WordPiece models are constants in the graph.
    The vocabulary is tracked as an asset anyway, so a client can read the exact training vocabulary
    from `DIR/assets/vocab.txt`.
    """

    def __init__(self, keras_model, vocab_file: str):
        super().__init__(name="bertkit_serving")
        self.model = keras_model
        self.vocab_file = tf.saved_model.Asset(vocab_file)


def export_model(model, output, *, verify: bool = True) -> Path:
    """Writes `model` as a raw-text SavedModel to `output` (atomically).

    Args:
        model: a run folder or bundle from `bertkit train`, or a loaded `BertkitModel`.
        output: the SavedModel folder to write; an existing earlier export there is replaced.
        verify: reload the written SavedModel and check it reproduces `predict_scores` on a few
            probe texts (empty, non-ASCII, long) within 1e-5 before publishing it.

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
    builder = signature_builder(bm.task_config.task)
    if bm.path is not None and output.resolve() in (Path(bm.path).resolve(), *Path(bm.path).resolve().parents):
        raise BertkitError(f"{output}: would replace the model being exported ({bm.path}); choose another folder.")
    signature = builder(bm)
    specs = [tf.TensorSpec([None], tf.string, name=name) for name in signature.inputs]
    module = ServingModule(bm.model, bm.vocab_file)
    module.serve = tf.function(signature.fn, input_signature=specs)
    concrete = module.serve.get_concrete_function()
    info = {
        "format_version": FORMAT_VERSION,
        "task": bm.task_config.task,
        "signature": SIGNATURE,
        "inputs": list(signature.inputs),
        "outputs": signature.outputs,
        **signature.info,
        "preprocess": bm.preprocess.to_dict(),
        "source_model": str(bm.path or ""),
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
    return output


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


def _probe_inputs(signature: ServingSignature) -> list:
    texts = ["", "The film was creative and surprising!", "Ça m'a plu — 素晴らしい 🎬",
             "a long review, " * 300 + "and the ending was awful."]
    if len(signature.inputs) == 1:
        return texts
    return [(a, b) for a, b in zip(texts, reversed(texts))]


def _verify(folder: Path, bm, signature: ServingSignature) -> None:
    """Reloads the SavedModel at `folder` and compares it with the in-memory model on probe texts."""
    probes = _probe_inputs(signature)
    columns = [probes] if len(signature.inputs) == 1 else [list(c) for c in zip(*probes)]
    fn = tf.saved_model.load(str(folder)).signatures[SIGNATURE]
    got = fn(**{name: tf.constant(col) for name, col in zip(signature.inputs, columns)})
    expected = bm.predict_scores(probes)
    if signature.compare is not None:
        worst = signature.compare({name: tensor.numpy() for name, tensor in got.items()}, expected)
    elif isinstance(expected, list):  # per-text arrays (ner: [words, K]); the export pads them
        scores = got[signature.scores].numpy()
        worst = max((float(np.max(np.abs(scores[i, :len(e)] - e), initial=0.0)) for i, e in enumerate(expected)),
                    default=0.0)
    else:
        worst = float(np.max(np.abs(got[signature.scores].numpy() - expected)))
    if worst > 1e-5:  # a bertkit bug, not a user error: stop before publishing the export
        raise RuntimeError(f"export check failed: the SavedModel differs from the model by {worst:.2e} "
                           "on the probe texts.")
