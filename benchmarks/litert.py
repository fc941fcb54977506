"""LiteRT against the SavedModel and the peers (issue 20): latency, throughput, accuracy and size on real text.

For each `--run DATASET=RUN` (a classifier fine-tuned on that dataset folder under $BERTKIT_DATA, e.g. `make
demo`'s runs/imdb for imdb_full), on that dataset's real test texts, raw text in (tokenization included):

* bertkit SavedModel float32, and mixed_bfloat16 where the CPU has AVX512_BF16 / AMX (`bertkit export`);
* .tflite none / dynamic-int8 / int8 (`bertkit export --format litert`; int8 calibrated on
  --calibration-samples texts of the dataset's train.jsonl, the run's training data), in the LiteRT
  interpreter with XNNPACK, num_threads = cores;
* peers in their own venv (`--peers-venv`, made on first use, never bertkit's): Hugging Face transformers +
  PyTorch eager, and ONNX Runtime with dynamic int8 (torch.onnx.export + quantize_dynamic), on the run's
  fine-tuned encoder (`bertkit export-encoder --format hf`) with a head of the same shape (speed only: the
  head is untrained) and BertTokenizerFast on the same vocabulary.

Measures batch 1 latency (p50 / p95 over --latency-texts texts, 3 warm-up calls) and batch 64 throughput
(--batches batches of 64 test texts), the accuracy of every bertkit model on the test split (all of it unless
--test-samples) with its label agreement with the float SavedModel, and file sizes.

    python benchmarks/litert.py --run imdb_full=runs/imdb --run sst2=runs/sst2          # the lead, alone
    python benchmarks/litert.py --run sst2=RUN --latency-texts 5 --batches 1 --test-samples 20 --skip-peers \\
        --output litert-smoke                                                            # a smoke run

Writes benchmarks/results/<--output>.json (with lscpu) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402
from speed import data_root, ensure_peers_venv, run_peer  # noqa: E402
from tokenize_speed import lscpu  # noqa: E402

QUANTIZATIONS = ("none", "dynamic-int8", "int8")
ONNX_REQUIREMENTS = ["onnx", "onnxruntime", "onnxscript"]
BATCH = 64


def read_split(dataset: str, split: str, n: int | None) -> tuple[list[str], list[str]]:
    """Texts and gold labels (as strings, the way bertkit names int labels) of a dataset split."""
    texts, labels = [], []
    with open(data_root() / dataset / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(str(row["label"]))
            if n is not None and len(texts) == n:
                break
    return texts, labels


def build_models(run: str, dataset: str, work: Path, calibration_samples: int) -> dict:
    """Every bertkit model of `run`: name -> (predict function texts -> labels, file or folder)."""
    import tensorflow as tf

    import bertkit
    from bertkit.core.precision import cpu_has_bf16
    from bertkit.export.config import ExportConfig
    from bertkit.export.litert import LiteRTModel, export_litert
    from bertkit.export.savedmodel import export_model

    models = {}
    policies = ["float32"] + (["mixed_bfloat16"] if cpu_has_bf16() else [])
    for policy in policies:
        folder = export_model(bertkit.load(run, policy), work / f"savedmodel-{policy}")
        fn = tf.saved_model.load(str(folder)).signatures["serving_default"]
        name = "savedmodel fp32" if policy == "float32" else "savedmodel bf16"
        models[name] = (lambda texts, fn=fn: [x.decode() for x in fn(text=tf.constant(texts))["label"].numpy()],
                        folder)
    for quantize in QUANTIZATIONS:
        path = export_litert(run, work / f"model-{quantize}.tflite",
                             ExportConfig(format="litert", quantize=quantize, calibration_samples=calibration_samples,
                                          calibration_data=str(data_root() / dataset / "train.jsonl")))
        lite = LiteRTModel(path, num_threads=os.cpu_count())
        models[f"tflite {quantize}"] = (lambda texts, lite=lite: [x.decode() for x in lite.run({"text": texts})["label"]],
                                        path)
    return models


def latency(predict, texts: list[str], warmup: int = 3) -> dict:
    """Batch 1: milliseconds per text, p50 and p95."""
    for text in texts[:warmup]:
        predict([text])
    times = []
    for text in texts:
        start = time.perf_counter()
        predict([text])
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)), "texts": len(texts)}


def throughput(predict, texts: list[str], batches: int) -> dict:
    """Batch 64: texts per second over `batches` batches (after one warm-up batch)."""
    predict(texts[:BATCH])
    chunks = [texts[i * BATCH:(i + 1) * BATCH] for i in range(batches)]
    start = time.perf_counter()
    for chunk in chunks:
        predict(chunk)
    seconds = time.perf_counter() - start
    return {"texts_per_s": sum(map(len, chunks)) / seconds, "batches": batches}


def accuracy(predict, texts, gold, reference=None) -> tuple[dict, list]:
    labels = [label for i in range(0, len(texts), BATCH) for label in predict(texts[i:i + BATCH])]
    out = {"accuracy": float(np.mean(np.asarray(labels) == np.asarray(gold))), "texts": len(texts)}
    if reference is not None:
        out["agreement_with_fp32"] = float(np.mean(np.asarray(labels) == np.asarray(reference)))
    return out, labels


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def run_peers(args, run: str, work: Path, latency_texts: list[str], batch_texts: list[str]) -> dict:
    """HF + PyTorch eager and ONNX Runtime dynamic int8 in the peers' venv, on the run's encoder."""
    import bertkit
    from bertkit.export.encoder import export_encoder

    python = ensure_peers_venv(Path(args.peers_venv))
    marker = Path(args.peers_venv) / ".litert-peers-installed"
    if not marker.exists():
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *ONNX_REQUIREMENTS], check=True)
        marker.touch()
    hf = export_encoder(run, "hf", work / "hf")
    model = bertkit.load(run)
    (work / "latency.json").write_text(json.dumps(latency_texts), encoding="utf-8")
    (work / "batch.json").write_text(json.dumps(batch_texts), encoding="utf-8")
    common = ["--model", hf, "--labels", len(model.labels), "--max-seq-length", model.preprocess.max_seq_length,
              "--lower-case", int(model.preprocess.do_lower_case), "--latency-texts", work / "latency.json",
              "--batch-texts", work / "batch.json", "--work", work]
    return {f"peer {mode}": run_peer(python, "litert_peers.py", "--mode", mode, *common)
            for mode in ("torch-eager", "onnxruntime-int8")}


def bench_run(args, dataset: str, run: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bertkit-litert-{dataset}-"))
    test_texts, gold = read_split(dataset, "test", args.test_samples)
    latency_texts = test_texts[:args.latency_texts]
    batch_texts = test_texts[:args.batches * BATCH]
    while len(batch_texts) < args.batches * BATCH:  # a smoke run's few texts, repeated
        batch_texts += test_texts[:args.batches * BATCH - len(batch_texts)]
    models = build_models(run, dataset, work, args.calibration_samples)
    out, reference = {}, None
    for name, (predict, path) in models.items():
        quality, labels = accuracy(predict, test_texts, gold, reference)
        reference = labels if reference is None else reference  # the float SavedModel comes first
        out[name] = {"latency_batch1": latency(predict, latency_texts),
                     "throughput_batch64": throughput(predict, batch_texts, args.batches),
                     "test": quality, "size_mb": size_mb(path)}
        print(f"{dataset} {name}: {json.dumps(out[name])}", flush=True)
    if not args.skip_peers:
        out.update(run_peers(args, run, work, latency_texts, batch_texts))
    return out


def print_table(results: dict) -> None:
    print(f"{'dataset':10} {'model':26} {'p50 ms':>8} {'p95 ms':>8} {'texts/s @64':>12} {'accuracy':>9} "
          f"{'agree':>7} {'MB':>7}")
    for dataset, models in results.items():
        for name, r in models.items():
            if "error" in r:
                print(f"{dataset:10} {name:26} error: {r['error']}")
                continue
            test = r.get("test", {})
            print(f"{dataset:10} {name:26} {r['latency_batch1']['p50_ms']:8.2f} {r['latency_batch1']['p95_ms']:8.2f} "
                  f"{r['throughput_batch64']['texts_per_s']:12.1f} {test.get('accuracy', float('nan')):9.4f} "
                  f"{test.get('agreement_with_fp32', float('nan')):7.4f} {r.get('size_mb', float('nan')):7.1f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, metavar="DATASET=RUN",
                   help="a dataset folder under $BERTKIT_DATA and a classifier run trained on it (repeatable)")
    p.add_argument("--latency-texts", type=int, default=200, help="texts timed one at a time")
    p.add_argument("--batches", type=int, default=20, help="batches of 64 timed for throughput")
    p.add_argument("--test-samples", type=int, default=None, help="test texts for accuracy (default: all)")
    p.add_argument("--calibration-samples", type=int, default=200, help="int8 calibration texts")
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--peers-venv", default=str(Path(__file__).resolve().parents[1] / ".venv-peers"))
    p.add_argument("--output", default="litert", help="result name: benchmarks/results/NAME.json")
    args = p.parse_args(argv)
    runs = dict(item.split("=", 1) for item in args.run)
    results = {dataset: bench_run(args, dataset, run) for dataset, run in runs.items()}
    print_table(results)
    write_result(args.output, {"versions": versions(), "lscpu": lscpu(), "runs": runs, "threads": os.cpu_count(),
                               "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
