"""Task benchmarks with the default all-MiniLM-L6-v2 on this CPU, each against BERT-base's published dev
numbers and the issue's targets.

| --task | bertkit task | train -> evaluate | metric (BERT-base) | target |
|---|---|---|---|---|
| mrpc | classify (pairs) | mrpc/train.jsonl -> mrpc/dev.jsonl (408) | F1 (88.9) | >= 86 |
| rte | classify (pairs) | rte/train.jsonl -> rte/dev.jsonl (277) | accuracy (66.4) | >= 60 |
| conll | ner | conll2003/eng.train (+ eng.testa with --train-on-dev) -> eng.testb (3,453 sentences) | entity F1 (92.4) | >= 88 |
| squad | qa | squad/dev-v1.1.json split by article: 33 articles train, 15 held out | EM / F1 | F1 >= 70 |
| conll-count | regression | eng.train -> eng.testb, each sentence scored with its number of entities | Pearson | - |

    python benchmarks/tasks.py --task mrpc [--epochs N] [--learning-rate LR] [--max-seq-length N] [--pooling cls|mean]
        [--task-option symmetric=on]   # any `bertkit train --task-option`, e.g. document_context=on for conll

Defaults per task are in DEFAULTS (SQuAD: max_seq_length 256 instead of run_squad's 384, to fit the CPU;
doc_stride 128, max_query_length 64; lr 1e-4 x 3 epochs, which MiniLM needs on 7,984 questions: lr 5e-5 x 2
reached F1 0.626). Writes benchmarks/results/tasks-<task>[-TAG].json with the metrics,
the protocol, wall time and training examples/s (features/s for conll and squad, whose long inputs
make several windows).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402

# The settings of each task's best measured run (benchmarks/results/tasks-*.json; README table).
DEFAULTS = {
    "mrpc": dict(task="classify", max_seq_length=128, batch_size=32, epochs=5, learning_rate=5e-5, pooling="cls",
                 metric="f1", reference=0.889, target=0.86),
    "rte": dict(task="classify", max_seq_length=128, batch_size=32, epochs=5, learning_rate=5e-5, pooling="cls",
                metric="accuracy", reference=0.664, target=0.60),
    "conll": dict(task="ner", max_seq_length=128, batch_size=16, epochs=5, learning_rate=1e-4,
                  metric="f1", reference=0.924, target=0.88),
    "squad": dict(task="qa", max_seq_length=256, batch_size=32, epochs=3, learning_rate=1e-4,
                  metric="f1", reference=None, target=0.70),
    # Regression on real annotations: each CoNLL sentence scored with its number of gold entities.
    "conll-count": dict(task="regression", max_seq_length=128, batch_size=32, epochs=2, learning_rate=5e-5,
                        metric="pearson", reference=None, target=None),
}


def data_root() -> Path:
    return Path(os.environ.get("BERTKIT_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def data_spec(name: str, workdir: Path, train_on_dev: bool = False) -> str:
    """What to pass as `data`: MRPC has a test split too, so a folder with only train + dev is made
    (symlinks), making dev the evaluation split as in GLUE. `train_on_dev` (CoNLL): a folder whose
    training file is eng.train followed by eng.testa (each keeps its -DOCSTART- documents), tested on
    eng.testb, the protocol of the CoNLL results that train their final model on train + dev."""
    root = data_root().resolve()  # the links must not be relative to the temporary folder
    if train_on_dev:
        if name not in ("conll", "conll-count"):
            raise SystemExit(f"--train-on-dev is for conll and conll-count, not {name}")
        folder = workdir / "conll_train_dev"
        folder.mkdir(exist_ok=True)
        conll = root / "conll2003"
        (folder / "train.conll").write_text((conll / "eng.train").read_text(encoding="utf-8") + "\n"
                                            + (conll / "eng.testa").read_text(encoding="utf-8"), encoding="utf-8")
        (folder / "test.conll").symlink_to(conll / "eng.testb")
        return str(folder)
    if name == "mrpc":
        folder = workdir / "mrpc_train_dev"
        folder.mkdir(exist_ok=True)
        for split in ("train", "dev"):
            link = folder / f"{split}.jsonl"
            if not link.exists():
                link.symlink_to(root / "mrpc" / f"{split}.jsonl")
        return str(folder)
    return str(root / {"conll": "conll2003", "conll-count": "conll2003", "squad": "squad"}.get(name, name))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=sorted(DEFAULTS))
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--max-seq-length", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--train-samples", type=int, default=None, help="sample N training examples (a quick check)")
    p.add_argument("--test-samples", type=int, default=None)
    p.add_argument("--mixed-precision", default="auto")
    p.add_argument("--pooling", default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a task option, as `bertkit train --task-option` (repeatable)")
    p.add_argument("--train-on-dev", action="store_true",
                   help="conll: train on eng.train + eng.testa, test on eng.testb")
    p.add_argument("--tag", default="")
    p.add_argument("--output", default=None, help="keep the run folder here (default: a temp folder)")
    args = p.parse_args()

    import bertkit

    cfg = dict(DEFAULTS[args.task])
    for key in ("epochs", "learning_rate", "max_seq_length", "batch_size"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    workdir = Path(tempfile.mkdtemp(prefix=f"bertkit-{args.task}-"))
    output = args.output or str(workdir / "run")
    options = {"doc_stride": 128, "max_query_length": 64} if cfg["task"] == "qa" else {}
    for item in args.task_option:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--task-option {item!r}: expected KEY=VALUE")
        options[key] = value
    start = time.perf_counter()
    result = bertkit.train(data=data_spec(args.task, workdir, args.train_on_dev), output=output, model=args.model, task=cfg["task"],
                           max_seq_length=cfg["max_seq_length"], batch_size=cfg["batch_size"], epochs=cfg["epochs"],
                           learning_rate=cfg["learning_rate"], train_samples=args.train_samples,
                           test_samples=args.test_samples, seed=args.seed, pooling=args.pooling or cfg.get("pooling"),
                           mixed_precision=args.mixed_precision, task_options=options)
    wall = time.perf_counter() - start
    m = result.metrics
    records = [json.loads(line) for line in open(Path(output) / "history.jsonl")]
    start_record = next(r for r in records if r["kind"] == "start")
    epochs = [r for r in records if r["kind"] == "epoch"]
    main_value = m[cfg["metric"]]
    out = {
        "task": args.task,
        "protocol": {k: v for k, v in cfg.items() if k not in ("metric", "reference", "target", "pooling")}
        | {"seed": args.seed, "train_samples": args.train_samples, "test_samples": args.test_samples,
           "mixed_precision": args.mixed_precision, "pooling": result.model.task_config.pooling,
           "task_options": result.model.task_config.extra, "data": start_record.get("data"),
           "train_on_dev": args.train_on_dev,
           "model": args.model or "all-MiniLM-L6-v2 (packaged)"},
        "metric": cfg["metric"], "value": main_value, "bert_base_reference": cfg["reference"],
        "target": cfg["target"], "target_met": None if cfg["target"] is None else main_value >= cfg["target"],
        "metrics": {k: v for k, v in m.items() if not isinstance(v, (dict, list))},
        "per_class": m.get("per_class"),
        "train_examples": start_record.get("train_examples"),
        "train_seconds": result.stats["train_seconds"],
        "train_examples_per_second": result.stats["examples_per_second"],
        "train_inputs": result.stats["train_examples"],
        "train_step_traces": result.stats.get("traces"),
        "wall_seconds_total": wall,
        "per_epoch": [{"epoch": r["epoch"], "train_loss": r["train_loss"], "seconds": r["epoch_seconds"],
                       cfg["metric"]: (r.get("eval") or {}).get(cfg["metric"])} for r in epochs],
        "versions": versions(),
    }
    name = f"tasks-{args.task}" + (f"-{args.tag}" if args.tag else "")
    write_result(name, out)
    extra = f", exact_match {m['exact_match']:.4f}" if "exact_match" in m else ""
    print(f"{args.task}: {cfg['metric']} {main_value:.4f}{extra} (target {cfg['target'] or '-'}); training "
          f"{result.stats['train_seconds'] / 60:.1f} min ({result.stats['examples_per_second']:.1f} inputs/s); "
          f"wall {wall / 60:.1f} min")


if __name__ == "__main__":
    main()
