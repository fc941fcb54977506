"""The tutorial protocol on IMDB with the default all-MiniLM-L6-v2, on this machine.

5,000 training reviews sampled from IMDB train, max_seq_length 128, batch 32, lr 2e-5, 3 epochs, then
evaluation on the IMDB test split (../shared/data/imdb/test.jsonl, 5,000 reviews). Google's notebook
reached accuracy 0.8664 with BERT-base on a GPU.

    python benchmarks/imdb_tutorial.py [--truncation head+tail] [--mixed-precision auto] [--pooling mean]

Writes benchmarks/results/imdb_tutorial[-TAG].json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-samples", type=int, default=5000)
    p.add_argument("--test-samples", type=int, default=None, help="default: all of imdb/test.jsonl (5,000)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--truncation", default="head+tail")
    p.add_argument("--pooling", default=None)
    p.add_argument("--mixed-precision", default="auto")
    p.add_argument("--model", default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tag", default="")
    p.add_argument("--output", default=None, help="keep the run folder here (default: a temp folder)")
    args = p.parse_args()

    import bertkit

    output = args.output or tempfile.mkdtemp(prefix="bertkit-imdb-")
    start = time.perf_counter()
    result = bertkit.train(data="imdb", output=output, model=args.model, train_samples=args.train_samples,
                           test_samples=args.test_samples, epochs=args.epochs, truncation=args.truncation,
                           pooling=args.pooling, mixed_precision=args.mixed_precision, seed=args.seed,
                           max_seq_length=128, batch_size=32, learning_rate=2e-5)
    wall = time.perf_counter() - start
    m = result.metrics
    history = [r for r in __import__("json").loads("[" + ",".join(
        open(Path(output) / "history.jsonl").read().splitlines()) + "]") if r["kind"] == "epoch"]
    out = {
        "protocol": {"train_samples": args.train_samples, "test_samples": m["n"], "max_seq_length": 128,
                     "batch_size": 32, "learning_rate": 2e-5, "epochs": args.epochs, "seed": args.seed,
                     "truncation": args.truncation, "pooling": result.model.task_config.pooling,
                     "mixed_precision": args.mixed_precision, "model": args.model or "all-MiniLM-L6-v2 (packaged)"},
        "accuracy": m["accuracy"], "f1": m["f1"], "precision": m["precision"], "recall": m["recall"],
        "auc": m["auc"], "auc_hard_labels": m.get("auc_hard_labels"), "mcc": m["mcc"],
        "confusion_matrix": m["confusion_matrix"],
        "train_seconds": result.stats["train_seconds"],
        "train_examples_per_second": result.stats["examples_per_second"],
        "wall_seconds_total": wall,
        "per_epoch": [{"epoch": r["epoch"], "train_loss": r["train_loss"], "seconds": r["epoch_seconds"],
                       "eval_accuracy": (r.get("eval") or {}).get("accuracy")} for r in history],
        "versions": versions(),
    }
    name = "imdb_tutorial" + (f"-{args.tag}" if args.tag else "")
    write_result(name, out)
    print(f"accuracy {m['accuracy']:.4f} f1 {m['f1']:.4f} auc {m['auc']:.4f}; "
          f"training {result.stats['train_seconds'] / 60:.1f} min ({result.stats['examples_per_second']:.1f} ex/s)")


if __name__ == "__main__":
    main()
