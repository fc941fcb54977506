"""`bertkit tune` on a GLUE pair task against the README's hand-tuned settings, both trained and evaluated
the same way (the default all-MiniLM-L6-v2, the same data, sequence length, precision, seed and sampling).

| --data | trains on | evaluates on (once, at the end) | metric | hand-tuned baseline (benchmarks/tasks.py) |
|---|---|---|---|---|
| mrpc | mrpc/train.jsonl (the search: 80 % of it; 20 % held out to score trials) | mrpc/dev.jsonl (408) | F1 | lr 5e-5, 5 epochs, batch 32, cls |
| rte | rte/train.jsonl (the same split) | rte/dev.jsonl (277) | accuracy | lr 5e-5, 5 epochs, batch 32, cls |

    python benchmarks/tune.py --data mrpc                     # 12 trials of at most 5 epochs, seq 128
    python benchmarks/tune.py --data rte --trials 20 --max-epochs 4 --output runs/tune-rte   # keep the search
    python benchmarks/tune.py --data mrpc --output runs/tune-mrpc --resume                     # after a kill
    python benchmarks/tune.py --data mrpc --train-samples 64 --test-samples 32 --trials 2 --max-epochs 1 \\
        --max-seq-length 32 --baseline-epochs 1 --tag smoke    # a smoke run of the script itself (minutes)

Writes benchmarks/results/tune-<data>[-TAG].json: the search's best settings, their value on the held-out part of
train, the retrained best run's dev metrics, the `bertkit train` command that reproduces it, the study table,
the baseline's settings and dev metrics (and, with --first-trial-hand-tuned, their value on the held-out
part, from the search's first trial), and wall times.

    python benchmarks/tune.py --data mrpc --first-trial-hand-tuned --tag v3   # the hand-tuned settings as trial 0
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402
from tasks import DEFAULTS, data_spec  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, choices=("mrpc", "rte"))
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--max-epochs", type=int, default=5, help="the search's epochs range is 1..N (default 5: the "
                   "hand-tuned settings train 5 epochs, so the space holds them)")
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--train-samples", type=int, default=None, help="sample N training examples (a quick check)")
    p.add_argument("--test-samples", type=int, default=None)
    p.add_argument("--mixed-precision", default="auto")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--baseline-epochs", type=int, default=None, help="override the hand-tuned 5 epochs (smoke runs)")
    p.add_argument("--output", default=None, help="keep the search and baseline folders here (default: a temp folder)")
    p.add_argument("--resume", action="store_true", help="continue the search in --output")
    p.add_argument("--first-trial-hand-tuned", action="store_true", help="the search's first trial runs the "
                   "hand-tuned settings (--first-trial), so they are scored on the same held-out split as the "
                   "search's own; --trials counts it")
    p.add_argument("--tag", default="")
    return p.parse_args()


def hand_tuned(args) -> dict:
    """The README's settings for the task (benchmarks/tasks.py DEFAULTS), warm-up and head dropout at
    `bertkit train`'s defaults: every searched setting of the baseline run."""
    from bertkit.core.config import TaskConfig, TrainConfig

    cfg, train, task = DEFAULTS[args.data], TrainConfig(), TaskConfig()
    return dict(learning_rate=cfg["learning_rate"], epochs=args.baseline_epochs or cfg["epochs"],
                batch_size=cfg["batch_size"], warmup_fraction=train.warmup_fraction, pooling=cfg["pooling"],
                head_dropout=task.head_dropout)


def run_search(args, data: str, output: Path):
    import bertkit

    first = {"first_trial": hand_tuned(args)} if args.first_trial_hand_tuned else {}
    start = time.perf_counter()
    result = bertkit.tune(data=data, output=str(output / "search"), trials=args.trials, resume=args.resume,
                          metric=DEFAULTS[args.data]["metric"],
                          epochs_range=(1, args.max_epochs), max_seq_length=args.max_seq_length,
                          train_samples=args.train_samples, test_samples=args.test_samples,
                          mixed_precision=args.mixed_precision, seed=args.seed, **first)
    return result, time.perf_counter() - start


def run_baseline(args, data: str, output: Path):
    """The README's settings for the task (benchmarks/tasks.py DEFAULTS) on all of train, evaluated on dev."""
    import bertkit

    settings = hand_tuned(args)
    folder = output / "baseline"
    start = time.perf_counter()
    result = bertkit.train(data=data, output=str(folder), resume=(folder / "checkpoints" / "checkpoint").exists(),
                           max_seq_length=args.max_seq_length, train_samples=args.train_samples,
                           test_samples=args.test_samples, mixed_precision=args.mixed_precision, seed=args.seed,
                           **settings)
    return settings, result.metrics, time.perf_counter() - start


def scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}


def main():
    args = parse_args()
    metric = DEFAULTS[args.data]["metric"]
    output = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix=f"bertkit-tune-{args.data}-"))
    output.mkdir(parents=True, exist_ok=True)
    data = data_spec(args.data, output)  # mrpc: a folder of train + dev, so dev is the evaluation split
    search, search_seconds = run_search(args, data, output)
    settings, baseline, baseline_seconds = run_baseline(args, data, output)
    tuned, hand = search.final_metrics[metric], baseline[metric]
    given = [r for r in search.trials if r.get("given")]  # the hand-tuned settings' trial (--first-trial-hand-tuned)
    out = {
        "data": args.data, "metric": metric,
        "protocol": {"trials": args.trials, "epochs_range": [1, args.max_epochs], "max_seq_length": args.max_seq_length,
                     "train_samples": args.train_samples, "test_samples": args.test_samples,
                     "mixed_precision": args.mixed_precision, "seed": args.seed, "search_fraction": 0.2,
                     "first_trial_hand_tuned": args.first_trial_hand_tuned,
                     "model": "all-MiniLM-L6-v2 (packaged)", "output": str(output)},
        "search": {"best_trial": search.best_trial, "best_params": search.best_params,
                   "search_value": search.search_value, "dev_metrics": scalars(search.final_metrics),
                   "command": search.command, "trials": search.trials, "wall_seconds": search_seconds},
        "baseline": {"settings": settings, "search_value": given[0]["value"] if given else None,
                     "dev_metrics": scalars(baseline), "wall_seconds": baseline_seconds},
        "dev_gain": tuned - hand,
        "versions": versions(),
    }
    write_result(f"tune-{args.data}" + (f"-{args.tag}" if args.tag else ""), json.loads(json.dumps(out, default=str)))
    print(f"{args.data}: dev {metric} tuned {tuned:.4f} (trial {search.best_trial}: {search.best_params}) vs "
          f"hand-tuned {hand:.4f}; search {search_seconds / 60:.1f} min, baseline {baseline_seconds / 60:.1f} min")
    if given:
        print(f"held-out {metric}: hand-tuned (trial {given[0]['trial']}) {given[0]['value']:.4f}, best trial "
              f"{search.search_value:.4f}")
    print(f"reproduce the tuned run: {search.command}")


if __name__ == "__main__":
    main()
