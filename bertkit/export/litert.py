"""Export a fine-tuned bundle as one LiteRT (.tflite) file that takes raw text, like the SavedModel.

    model.tflite   signature serving_default(<the task's string inputs> [B]) -> the task's outputs
                   metadata "bertkit_export": bertkit_export.json of the SavedModel (task, labels, inputs,
                   outputs, preprocessing, quantization), for `bertkit serve`

The graph is the SavedModel's (`TaskRunner.serving_function`: the task's `encode`, the model, its `decode`)
with the tokenizer's `litert_tokenizer()`: for WordPiece the fast path alone, whose ops (FastBertNormalize,
FastWordpieceTokenize) have LiteRT kernels in tensorflow-text's registrar; every other op is a LiteRT
builtin (no Flex / SELECT_TF_OPS). An op left without a kernel stops the export with its name.

Loading needs `ai_edge_litert` and tensorflow-text's registrar, not bertkit (docs/serving.md):
`InterpreterWithCustomOps(custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS, ...)`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from bertkit.core import graph
from bertkit.core.errors import BertkitError
from bertkit.export.config import ExportConfig
from bertkit.export.savedmodel import FORMAT_VERSION, SIGNATURE, largest_difference, probe_inputs

METADATA = "bertkit_export"
SUFFIX = ".tflite"
TOLERANCE = 1e-4  # float .tflite vs predict: XNNPACK sums in another order than TensorFlow
# The custom ops tensorflow-text's registrar (tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS) has kernels
# for, by the names they are registered under (tensorflow-text 2.21). Any other custom op has no kernel anywhere.
TFTEXT_OPS = frozenset({
    "FastBertNormalize", "FastWordpieceTokenizeWithOffsets", "RaggedTensorToTensor",
    "TFText>ByteSplitByOffsets", "TFText>ByteSplitWithOffsets", "TFText>FastSentencepieceDetokenize",
    "TFText>FastSentencepieceTokenize", "TFText>FastWordpieceDetokenize", "TFText>NgramsStringJoin",
    "TFText>RoundRobinGenerateMasks", "TFText>RoundRobinTrim", "TFText>Utf8Binarize",
    "TFText>WhitespaceTokenizeWithOffsetsV2"})


def export_litert(model, output, config: ExportConfig | None = None, *, verify: bool = True) -> Path:
    """Writes `model` as a raw-text LiteRT model to the file `output` (atomically).

    Args:
        model: a run folder or bundle from `bertkit train`, or a loaded `BertkitModel`.
        output: the .tflite file to write; an earlier file there is replaced.
        config: the quantization and its calibration (`ExportConfig`).
        verify: load the written file with the LiteRT interpreter and check it against `predict` on probe
            texts (float: every output within 1e-4; quantized: it runs and gives every output).

    Returns:
        The output file.
    """
    from bertkit.api import BertkitModel, load
    from bertkit.core.io import atomic_write_bytes
    from bertkit.tasks.runner import TaskRunner

    config = config or ExportConfig(format="litert")
    output = _check_output(Path(output))
    bm = model if isinstance(model, BertkitModel) else load(model, "float32")
    samples = calibration_texts(bm, config) if config.quantize == "int8" else None
    # The task's own graph steps, with the tokenizer's LiteRT ops: one implementation of each step.
    task = type(bm.task)(bm.task.config, bm.task.preprocess, bm.tokenizer.litert_tokenizer())
    signature = task.serving_signature()
    what = f"the {bm.task_config.task!r} task (tokenizer {bm.tokenizer.kind!r})"
    flat = convert(TaskRunner(task, bm.model).serving_function(), signature.inputs, config.quantize, samples, what)
    check_ops(flat, what)
    info = {"format_version": FORMAT_VERSION, "format": "litert", "task": bm.task_config.task,
            "signature": SIGNATURE, "inputs": list(signature.inputs),
            "outputs": {k: o.description for k, o in signature.outputs.items()}, **signature.info,
            "preprocess": bm.preprocess.to_dict(), "tokenizer": bm.tokenizer.kind, "quantize": config.quantize,
            "source_model": str(bm.path or ""), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    flat = with_metadata(flat, info)
    if verify:
        _verify(flat, bm, signature, config.quantize)
    atomic_write_bytes(output, flat)
    return output


def _check_output(output: Path) -> Path:
    if output.is_dir():
        raise BertkitError(f"{output}: is a folder; --format litert writes one file, e.g. --output model{SUFFIX}.")
    if output.suffix != SUFFIX:
        raise BertkitError(f"{output}: a LiteRT model is one {SUFFIX} file; name --output like model{SUFFIX}.")
    return output


def convert(serve, inputs: tuple, quantize: str, samples: list | None = None, what: str = "the model") -> bytes:
    """The serving function `serve(**{input: string [B]})` as a .tflite flatbuffer with one signature.

    Args:
        serve: `TaskRunner.serving_function()`.
        inputs: its string inputs in signature order.
        quantize: one of `ExportConfig.quantize`'s choices.
        samples: int8: calibration inputs, one tuple of strings per example.
        what: the task and tokenizer, for error messages.
    """
    specs = [tf.TensorSpec([None], tf.string, name=name) for name in inputs]
    traced = graph.function(lambda *columns: serve(**dict(zip(inputs, columns))), input_signature=specs)
    concrete = traced.get_concrete_function()
    # Weights become constants here: the converter keeps Keras 3 variables as resource variables otherwise,
    # which LiteRT reads but cannot quantize.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(concrete)
    leftover = [t.name for t in frozen.inputs[len(inputs):]]
    if leftover:  # resources that are not variables: lookup tables (BPE, Unigram), the SentencePiece op's model
        raise BertkitError(
            f"{what} cannot be exported with --format litert: its tokenizer holds TensorFlow resources a .tflite "
            f"cannot hold (lookup tables or a SentencePiece model handle: {', '.join(leftover[:4])}). Export a "
            "SavedModel instead (bertkit export without --format) and serve that.")
    names = list(concrete.structured_outputs)  # a dict's flat order: its sorted keys
    named = graph.function(lambda *columns: dict(zip(sorted(names), frozen(*columns))), input_signature=specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([named.get_concrete_function()], tf.Module())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True  # the tokenizer's tensorflow-text ops; check_ops vets every custom op
    _quantization(converter, quantize, inputs, samples)
    try:
        return converter.convert()
    except Exception as e:  # noqa: BLE001 - the converter raises many types; the user needs its message
        raise BertkitError(f"the LiteRT converter failed: {str(e).splitlines()[0][:500]}") from None


def _quantization(converter, quantize: str, inputs: tuple, samples) -> None:
    if quantize == "none":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-int8 alone: int8 weights
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        import tensorflow_text

        # Calibration runs the graph, tokenizer included: it needs tensorflow-text's kernels too.
        converter.target_spec._experimental_custom_op_registerers = list(
            tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)
        converter.representative_dataset = lambda: (
            {name: np.array([value.encode("utf-8")], dtype=object) for name, value in zip(inputs, sample)}
            for sample in samples)


def check_ops(flat: bytes, what: str) -> None:
    """Raises a BertkitError naming `what` (the task and tokenizer) and every custom op without a LiteRT kernel."""
    missing = sorted(custom_ops(flat) - TFTEXT_OPS)
    if missing:
        raise BertkitError(
            f"{what} cannot be exported with --format litert: its graph steps need TensorFlow ops that LiteRT has no kernel for, neither builtin nor in "
            f"tensorflow-text's registrar: {', '.join(missing)} (only Flex, SELECT_TF_OPS, would run them; bertkit "
            "does not use it). Export a SavedModel instead (bertkit export without --format) and serve that.")


def custom_ops(flat: bytes) -> set[str]:
    """The custom ops a .tflite flatbuffer uses."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(flat, 0)
    codes = (model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))
    return {code.CustomCode().decode("utf-8") for code in codes if code.CustomCode()}


def with_metadata(flat: bytes, info: dict) -> bytes:
    """`flat` with `info` as JSON in its metadata entry "bertkit_export"."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flat))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(info, ensure_ascii=False).encode("utf-8"), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_metadata(path: Path) -> dict:
    """The "bertkit_export" metadata of a .tflite written by `export_litert`.

    Raises:
        BertkitError: `path` is a folder, not a .tflite flatbuffer, or a .tflite bertkit did not write.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    path = Path(path)
    if not path.exists():
        raise BertkitError(f"{path}: no such file; write it with `bertkit export --format litert --output {path.name}`.")
    if path.is_dir():
        raise BertkitError(f"{path}: is a folder, not a .tflite file; for a SavedModel folder from `bertkit export` "
                           "pass the folder itself, for LiteRT the .tflite file written by `bertkit export "
                           "--format litert`.")
    flat = path.read_bytes()
    if len(flat) < 8 or flat[4:8] != b"TFL3":  # the flatbuffer file identifier of every .tflite
        raise BertkitError(f"{path}: not a LiteRT (.tflite) model (no TFL3 identifier); write one with `bertkit "
                           "export --format litert --output model.tflite`.")
    model = schema.Model.GetRootAsModel(flat, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() and entry.Name().decode("utf-8") == METADATA:
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("utf-8"))
    raise BertkitError(f"{path}: a .tflite model without bertkit's metadata; `bertkit serve` needs one written by "
                       "`bertkit export --format litert`.")


class LiteRTModel:
    """A .tflite from `export_litert` in the LiteRT interpreter with tensorflow-text's kernels.

    `run({input: list of B strings}) -> {output: array [B, ...]}`; the interpreter is not thread-safe, so
    one caller at a time (the server's batcher is one thread).
    """

    def __init__(self, path=None, *, content: bytes | None = None, num_threads: int | None = None):
        import tensorflow_text

        try:
            from ai_edge_litert.interpreter import InterpreterWithCustomOps
        except ImportError:
            raise BertkitError("running a .tflite needs the LiteRT interpreter: pip install 'bertkit[litert]' "
                               "(ai-edge-litert).") from None
        from bertkit.core.quiet import known_notices_dropped

        with known_notices_dropped():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" on every interpreter
            self.interpreter = InterpreterWithCustomOps(
                custom_op_registerers=list(tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS),
                model_path=None if path is None else str(path), model_content=content, num_threads=num_threads)
            self.runner = self.interpreter.get_signature_runner(SIGNATURE)
            self.inputs = tuple(self.interpreter.get_signature_list()[SIGNATURE]["inputs"])
            self.run({name: [b""] for name in self.inputs})  # the first call applies the delegate (and says so)

    def run(self, columns: dict) -> dict:
        feed = {name: np.array([_bytes(v) for v in values], dtype=object) for name, values in columns.items()}
        return dict(self.runner(**feed))


def _bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def calibration_texts(bm, config: ExportConfig) -> list[tuple]:
    """`config.calibration_samples` training inputs (a seeded sample) for int8 calibration, one tuple each.

    Raises:
        BertkitError: the run does not record its training data and --calibration-data is not given, or the
            data holds fewer examples than asked.
    """
    from bertkit.data import read_examples, resolve_data, sample_examples

    spec = config.calibration_data or _run_training_data(bm)
    path = resolve_data(spec, "train")
    examples = bm.task.as_examples(read_examples(path))
    if config.calibration_samples > len(examples):
        raise BertkitError(f"--calibration-samples {config.calibration_samples} is larger than the {len(examples)} "
                           f"examples of {path}; choose at most {len(examples)}.")
    sample = sample_examples(examples, config.calibration_samples, config.seed)
    inputs = bm.task.serving_signature().inputs
    return [(e.text_a,) if len(inputs) == 1 else (e.text_a, e.text_b) for e in sample]


def _run_training_data(bm) -> str:
    from bertkit.report.runinfo import last_run, read_history

    folder = Path(bm.path) if bm.path is not None else None
    for history in ([] if folder is None else [folder / "history.jsonl", folder.parent / "history.jsonl"]):
        if history.exists():
            start, _, _ = last_run(read_history(history)[0])
            if start and start.get("train_data"):
                return start["train_data"]
    raise BertkitError(f"{bm.path or 'this model'}: the run does not record its training data (runs before bertkit "
                       "0.2 did not); give the calibration texts with --calibration-data FILE.")


def _verify(flat: bytes, bm, signature, quantize: str) -> None:
    """Runs the .tflite on probe inputs and compares it with `predict` (float) or checks its outputs (quantized)."""
    probes = probe_inputs(signature.inputs)
    columns = [probes] if len(signature.inputs) == 1 else [list(c) for c in zip(*probes)]
    got = LiteRTModel(content=flat).run(dict(zip(signature.inputs, columns)))
    if set(got) != set(signature.outputs):
        raise RuntimeError(f"LiteRT export check failed: outputs {sorted(got)}, expected {sorted(signature.outputs)}.")
    if quantize == "none":
        worst = largest_difference(got, bm.predictions(probes), signature)
        if worst > TOLERANCE:  # a bertkit bug, not a user error: stop before publishing the file
            raise RuntimeError(f"LiteRT export check failed: the .tflite differs from predict by {worst:.2e}.")
