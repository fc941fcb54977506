"""Which ops lose the accuracy of a full-int8 .tflite (issue 20): selective quantization, op type by op type.

For a fine-tuned classifier run, exports the float .tflite (the reference), `bertkit export --quantize
dynamic-int8` and `--quantize int8`, and then int8 variants in which a set of op types stays float: the
converter calibrates once (its `_experimental_calibrate_only`) and TensorFlow's MLIR quantizer quantizes
everything but the denylisted op types (`mlir_quantize(..., denylisted_ops=...)`, the mechanism behind
`tf.lite.experimental.QuantizationDebugger`'s selective quantization). Both are private TensorFlow APIs, so
this is a measurement script: bertkit's export offers only what it measured to work.

For each variant: test accuracy and label agreement with the float .tflite on --samples seeded test texts,
in batches of 64 (the interpreter pads a batch to its longest text) and one at a time.

    python benchmarks/litert_int8_layers.py --run runs/imdb --data imdb_full --samples 512

Writes benchmarks/results/litert_int8_layers-<data>.json (with lscpu).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402
from speed import data_root  # noqa: E402
from tokenize_speed import lscpu  # noqa: E402

LAYER_NORM = ["MEAN", "SQUARED_DIFFERENCE", "RSQRT", "NEG", "SUB"]
VARIANTS = {  # name -> op types kept float (None: bertkit's own export, no denylist)
    "dynamic-int8": None,
    "int8": None,
    "int8 mlir, nothing float": [],
    "int8, softmax float": ["SOFTMAX"],
    "int8, layer norm float": LAYER_NORM,
    "int8, fully-connected float": ["FULLY_CONNECTED"],
    "int8, layer norm + adds + muls float": ["ADD", "MUL", *LAYER_NORM],
    "int8, all but fully-connected, matmul, gelu float": ["ADD", "MUL", *LAYER_NORM, "SUM", "DIV", "LOGISTIC",
                                                          "GATHER"],
}


def read_test(dataset: str, n: int, seed: int) -> tuple[list[str], list[str]]:
    with open(data_root() / dataset / "test.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    pick = np.random.default_rng(seed).choice(len(rows), min(n, len(rows)), replace=False)
    return [rows[i]["text"] for i in pick], [str(rows[i]["label"]) for i in pick]


def export_selective(run: str, path: Path, deny: list[str], calibration: str) -> None:
    """bertkit's int8 export with `deny` op types left float (patches the module's convert for one call)."""
    from tensorflow.lite.python.convert import mlir_quantize

    from bertkit.export import litert
    from bertkit.export.config import ExportConfig

    original_quantization, original_convert = litert._quantization, litert.convert

    def calibrate_only(converter, quantize, inputs, samples):
        original_quantization(converter, quantize, inputs, samples)
        converter._experimental_calibrate_only = True

    def convert(*args, **kwargs):
        calibrated = original_convert(*args, **kwargs)
        return mlir_quantize(calibrated, denylisted_ops=deny)

    litert._quantization, litert.convert = calibrate_only, convert
    try:
        litert.export_litert(run, path, ExportConfig(format="litert", quantize="int8", calibration_data=calibration))
    finally:
        litert._quantization, litert.convert = original_quantization, original_convert


def labels_of(lite, texts: list[str], batch: int) -> list[str]:
    return [x.decode() for i in range(0, len(texts), batch) for x in lite.run({"text": texts[i:i + batch]})["label"]]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a classifier run folder from `bertkit train`")
    p.add_argument("--data", required=True, help="its dataset under $BERTKIT_DATA (test.jsonl, train.jsonl)")
    p.add_argument("--samples", type=int, default=512, help="seeded test texts")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from bertkit.core.quiet import import_tensorflow

    import_tensorflow()
    from bertkit.export.config import ExportConfig
    from bertkit.export.litert import LiteRTModel, export_litert

    texts, gold = read_test(args.data, args.samples, args.seed)
    calibration = str(data_root() / args.data / "train.jsonl")
    work = Path(tempfile.mkdtemp(prefix="bertkit-int8-layers-"))
    export_litert(args.run, work / "none.tflite", ExportConfig(format="litert"))
    reference = LiteRTModel(work / "none.tflite", num_threads=2)
    ref = {b: labels_of(reference, texts, b) for b in (64, 1)}
    results = {"float": {"accuracy_batch64": float(np.mean(np.array(ref[64]) == gold))}}
    print(f"float: accuracy {results['float']['accuracy_batch64']:.4f}", flush=True)
    for name, deny in VARIANTS.items():
        path = work / f"{len(results)}.tflite"
        if deny is None:
            export_litert(args.run, path, ExportConfig(format="litert", quantize=name, calibration_data=calibration))
        else:
            export_selective(args.run, path, deny, calibration)
        lite = LiteRTModel(path, num_threads=2)
        row = {"float_ops": deny, "size_mb": path.stat().st_size / 1e6}
        for b in (64, 1):
            got = np.array(labels_of(lite, texts, b))
            row[f"accuracy_batch{b}"] = float(np.mean(got == gold))
            row[f"agreement_batch{b}"] = float(np.mean(got == np.array(ref[b])))
        results[name] = row
        print(f"{name}: {json.dumps(row)}", flush=True)
    write_result(f"litert_int8_layers-{args.data}", {
        "benchmark": "litert_int8_layers", "lscpu": lscpu(), "versions": versions(),
        "setup": {"run": args.run, "data": args.data, "test_texts": len(texts), "seed": args.seed,
                  "calibration": f"{calibration} (200 seeded texts, bertkit's default)"},
        "results": results})


if __name__ == "__main__":
    main()
