"""Does the few-shot head's regularisation matter? (issue 21, choosing few-shot settings)

For each (examples per class, seed) this trains bertkit's few-shot model once at `--learning-rate`, fits the
logistic-regression head at several inverse strengths C on the same tuned embeddings, and scores each on the
selection rows of few_shot.py (`--score-on selection`: 1,000 held-out SST-2 train rows of 10 or more words,
less the run's training rows); the test split is not read. The examples are few_shot.py's draws.

    BERTKIT_DATA=/work/shared/data python benchmarks/few_shot_head_c.py --learning-rate 5e-5 --per-class 8,16 \\
        --seeds 6,7,8,9,10

Rows go to `results/few_shot_head_c.partial.jsonl` as they finish; `few_shot_head_c.json` gets them all and,
per C, the mean accuracy difference to C = 1 (bertkit's and scikit-learn's default).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runs  # noqa: E402
from common import commit, machine, versions, write_result  # noqa: E402
from few_shot import draw_per_class  # noqa: E402

CS = (0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
LOG = runs.RESULTS / "few_shot_head_c.partial.jsonl"


def one_run(pool, selection, n: int, seed: int, learning_rate: float) -> dict:
    import keras
    import numpy as np

    import bertkit
    from bertkit.tasks.classify import few_shot as fs

    fits, solve = {}, fs.logistic_regression

    def every_c(x, labels, classes, c, iterations=50):  # the run's own head keeps its C
        for other in CS:
            fits[other] = solve(x, labels, classes, other, iterations)
        return fits[c] if c in fits else solve(x, labels, classes, c, iterations)

    fs.logistic_regression = every_c
    try:
        with tempfile.TemporaryDirectory(prefix="bertkit-head-c-") as tmp:
            train = draw_per_class(pool, n, seed)
            runs.write_rows(Path(tmp) / "train.jsonl", train)
            scored = runs.write_rows(Path(tmp) / "test.jsonl", runs.without(selection, train))
            keras.backend.clear_session()
            result = bertkit.train(data=tmp, output=None, seed=seed, verbose=False, method="few-shot",
                                   max_seq_length=128, learning_rate=learning_rate)
            head = result.model.model
            row = {"per_class": n, "seed": seed, "learning_rate": learning_rate,
                   "accuracy_of_run": result.metrics["accuracy"]}
            for c, (kernel, bias) in fits.items():
                head.classifier.kernel.assign(kernel.astype(np.float32))
                head.classifier.bias.assign(bias.astype(np.float32))
                row[f"accuracy_c{c:g}"] = result.model.evaluate(str(scored))["accuracy"]
    finally:
        fs.logistic_regression = solve
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--per-class", default="8,16")
    p.add_argument("--seeds", default="6,7,8,9,10")
    args = p.parse_args()
    pool = runs.train_pool("sst2")
    selection, what = runs.selection_set("sst2", 1000, 10)
    for n in map(int, args.per_class.split(",")):
        for seed in map(int, args.seeds.split(",")):
            row = one_run(pool, selection, n, seed, args.learning_rate)
            row.update(scored_on=what, machine=machine(), commit=commit())
            with open(LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: row[k] for k in row if k.startswith(("per_class", "seed", "accuracy"))}), flush=True)
    rows = [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()]
    write_result("few_shot_head_c", {"runs": rows, "vs_c1": summary(rows), "versions": versions()})


def summary(rows: list[dict]) -> list[dict]:
    import numpy as np

    out = []
    for lr in sorted({r["learning_rate"] for r in rows}):
        for c in CS:
            d = np.array([r[f"accuracy_c{c:g}"] - r["accuracy_c1"] for r in rows if r["learning_rate"] == lr])
            out.append({"learning_rate": lr, "C": c, "runs": len(d), "mean_minus_c1": float(d.mean()),
                        "standard_error": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None})
    return out


if __name__ == "__main__":
    main()
