"""A base-size model of another family next to the default small one, fine-tuned the same way.

all-mpnet-base-v2 (MPNet, 12 layers, hidden 768, 110M parameters, real weights: `make mpnet`) and the
default all-MiniLM-L6-v2 (6 layers, hidden 384, 22M) go through the tutorial protocol on one dataset, one
after the other in this process: 5,000 training examples sampled with seed 42, max_seq_length 128, batch
32, lr 2e-5, 3 epochs, mean pooling for both (both are sentence-transformers mean-pooling models), then the
metrics on the whole test split. The default dataset is SST-2 (1,821 labelled test sentences), whose short
sentences keep a base-size model to ~50 min per epoch on two shared CPU cores (IMDB's reviews: several
hours); `--epochs 1` is the run in docs/results.md.

    python benchmarks/family_finetune.py --mpnet ~/.cache/bertkit/all-mpnet-base-v2 [--data sst2]

Writes benchmarks/results/family_finetune-DATA[-TAG].json: per model, the metrics, the training and wall
time, and the machine (CPU, flags, load average, which says whether other work shared the cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, versions, write_result  # noqa: E402

PROTOCOL = {"train_samples": 5000, "max_seq_length": 128, "batch_size": 32, "learning_rate": 2e-5, "epochs": 3,
            "pooling": "mean", "seed": 42}


def run(model: str | None, data: str, protocol: dict, mixed_precision: str) -> dict:
    import bertkit

    output = tempfile.mkdtemp(prefix="bertkit-family-")
    start = time.perf_counter()
    result = bertkit.train(data=data, output=output, model=model, mixed_precision=mixed_precision, **protocol)
    wall = time.perf_counter() - start
    m = result.metrics
    config = result.model.encoder_config
    return {"model": model or "all-MiniLM-L6-v2 (packaged)", "family": config.model_type,
            "layers": config.num_layers, "hidden_size": config.hidden_size,
            "parameters": int(sum(v.numpy().size for v in result.model.model.encoder.trainable_variables)),
            "test_examples": m["n"], "accuracy": m["accuracy"], "f1": m["f1"], "auc": m["auc"], "mcc": m["mcc"],
            "train_seconds": result.stats["train_seconds"], "wall_seconds": wall, "machine_after": machine()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mpnet", default=os.environ.get("BERTKIT_MPNET"),
                   help="the all-mpnet-base-v2 folder (`make mpnet` puts it in ~/.cache/bertkit)")
    p.add_argument("--data", default="sst2")
    p.add_argument("--train-samples", type=int, default=PROTOCOL["train_samples"])
    p.add_argument("--epochs", type=int, default=PROTOCOL["epochs"])
    p.add_argument("--mixed-precision", default="auto")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    if not args.mpnet or not (Path(args.mpnet) / "model.safetensors").is_file():
        sys.exit("family_finetune.py: pass --mpnet DIR (or BERTKIT_MPNET) holding all-mpnet-base-v2; `make mpnet` "
                 "fetches it from PyPI.")
    protocol = dict(PROTOCOL, train_samples=args.train_samples, epochs=args.epochs)
    before = machine()
    runs = [run(None, args.data, protocol, args.mixed_precision),
            run(args.mpnet, args.data, protocol, args.mixed_precision)]
    small, base = runs
    name = f"family_finetune-{args.data}" + (f"-{args.tag}" if args.tag else "")
    write_result(name, {"protocol": dict(protocol, data=args.data, mixed_precision=args.mixed_precision),
                        "machine_before": before, "versions": versions(), "runs": runs,
                        "accuracy_gain": base["accuracy"] - small["accuracy"],
                        "train_time_ratio": base["train_seconds"] / small["train_seconds"]})
    for r in runs:
        print(f"{r['model']}: accuracy {r['accuracy']:.4f} f1 {r['f1']:.4f}; training {r['train_seconds'] / 60:.1f} "
              f"min, wall {r['wall_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
