"""Few-shot classification (issue 21): bertkit `method="few-shot"` vs bertkit fine-tuning vs the `setfit`
library, on 8 / 16 / 64 examples per class of SST-2 and IMDB, over seeds.

* Examples: per (dataset, N, seed) the script draws N examples of each label from the train file
  (`numpy.random.default_rng(seed)`, labels in sorted order) and shuffles them with the same generator;
  every system reads that one `train.jsonl` (bertkit as `data=<folder>`), so all see the same examples.
  (bertkit's own `samples_per_class` would draw the same examples for both bertkit methods, but setfit
  could not share it; it keeps its picks in file order.)
* Test: SST-2's labelled test split (1,821 sentences); IMDB's imdb/test.jsonl without the reviews whose
  text is also in imdb_full/train.jsonl (4,967), or a seeded sample of them (`--test-samples`, seed 0,
  the same for every run). The same test file for every run of a dataset. `--score-on selection` scores
  instead on 1,000 seeded rows of the train file (SST-2: of 10 or more words), less the run's training
  rows: settings are chosen there, and the test split is read only by the grid that reports them.
* Systems (`--systems`):
  - `bertkit-few-shot`: `bertkit.train(method="few-shot")` with bertkit's defaults (since the as-setfit-v5
    grid: setfit's batch 16 and 1 epoch; before, 32 and 3; in the v7 grid only: learning rate 5e-5; since v8:
    the head's C = 100);
  - `bertkit-few-shot-as-setfit`: the same with batch 16 and 1 epoch given explicitly (the earlier grids);
  - `bertkit-fine-tune`: ordinary fine-tuning of the encoder and head with bertkit's defaults (3 epochs,
    lr 2e-5, batch 32: only a few optimizer steps on 16-128 examples; `--fine-tune-options` changes them);
  - `setfit`: `peers/setfit_fit.py` in `.venv-peers`, the same encoder folder, `num_iterations=20`.
  All read at most `--max-seq-length` (128) tokens.

bertkit's few-shot defaults against setfit 1.2's (what differs is marked *):
| setting | bertkit few-shot | setfit |
|---|---|---|
| pairs | `pair_iterations` 20: per round each example with a random one of its label and one of another | *`num_iterations` 20: the same count (20 x N positive, 20 x N negative), cycling through a shuffled list of every same-label (other-label) pair |
| batch | 16 (`batch_size`; fine-tuning's default is 32) | 16 |
| epochs over the pairs | 1 (`epochs`; fine-tuning's default is 3) | 1 |
| body learning rate, warm-up, weight decay | 2e-5 (5e-5 in the v7 grid), 0.1 linear, 0.01 | 2e-5, 0.1 linear, 0.01 (`l2_weight`) |
| optimizer | AdamW *eps 1e-6, clipping 1.0 | torch AdamW eps 1e-8, clipping 1.0 |
| loss | cosine similarity vs target, squared error | CosineSimilarityLoss (the same) |
| embedding | mean pooling, L2-normalised | the model's modules: mean pooling + Normalize |
| head | L2 logistic regression, *C = 100 (1 before the v8 grid), solved by Newton's method | scikit-learn `LogisticRegression()` (C = 1, lbfgs, 100 iterations) |
| truncation | *head+tail, 128 tokens | head, 128 tokens (`model_body.max_seq_length`; its own default is 256) |
| precision | *`auto`: bf16 on CPUs that have it | float32 |
| batch order | *shuffled, sorted by length within windows of 4 batches | shuffled |
Before the v5 grid bertkit's few-shot defaults were fine-tuning's (3 epochs of batches of 32: 3 x the
optimizer steps of setfit's); `bertkit-few-shot-as-setfit` removed that difference in the earlier grids.

Every finished run is appended to `benchmarks/results/few_shot[-TAG].partial.jsonl` and skipped on rerun.
The result `few_shot[-TAG].json` has per run accuracy and wall seconds (model load, training and
testing), mean and standard deviation per (dataset, N, system), and the machine.

    BERTKIT_DATA=/work/shared/data python benchmarks/few_shot.py --datasets sst2,imdb \\
        --per-class 8,16,64 --seeds 1,2,3,4,5 --systems bertkit-few-shot,bertkit-fine-tune,setfit
    # the same with setfit's batch and epochs, and IMDB scored on 1,000 reviews (about 5 hours):
    BERTKIT_DATA=/work/shared/data python benchmarks/few_shot.py --tag as-setfit-v2 --test-samples 1000 \\
        --systems bertkit-few-shot-as-setfit,bertkit-fine-tune,setfit

(`few_shot-as-setfit.partial.jsonl` holds the same protocol's first 17 runs, made before the train step
was traced once (730284a): their accuracies stand, their wall times are those of the older code.
`-as-setfit-v2` ran before the pair batches were length-bucketed; `--tag as-setfit-v3` reruns the grid
with them. Every row records the commit it ran on.) The summary compares each bertkit system with setfit: the difference
of mean accuracy, and setfit's wall time over bertkit's averaged over the seeds whose two runs ran on
one machine.

Time on 2 cores (AMD EPYC Zen 3, no bf16, so float32). A run's pairs are 2 x 20 x (2 N) = 80 N, so
8 / 16 / 64 per class give 640 / 1,280 / 5,120 pairs (two rows each) per epoch; bertkit's default
few-shot reads them 3 times, setfit and `bertkit-few-shot-as-setfit` once. At ~8 IMDB rows of 128
tokens a second for training (docs/speed.md), one seed of bertkit-few-shot on IMDB is ~1.5 hours,
setfit's ~30 min, and scoring 4,967 IMDB reviews a few minutes per run; SST-2 rows are several times
cheaper. The default grid is therefore about 14 hours on idle cores: ~10 of them IMDB, ~7 of them the
3-epoch bertkit-few-shot. `--test-samples 1000` and dropping `bertkit-few-shot` (keeping
`bertkit-few-shot-as-setfit`) bring it near 5 hours. The smoke runs (seed 1, 50 test rows, the 2 cores
shared by ~8 busy processes, so contention more than the systems set these times), wall seconds:
| | bertkit-few-shot | bertkit-few-shot-as-setfit | bertkit-fine-tune | setfit |
|---|---|---|---|---|
| SST-2, 4 per class | 382 (30 steps) | 228 (20 steps) | 49 | 426 (20 steps, then saving a checkpoint) |
| IMDB, 2 per class | 432 (15 steps) | 160 (10 steps) | 52 | 315 (10 steps) |
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runs  # noqa: E402
from common import versions, write_result  # noqa: E402

SYSTEMS = {  # name -> bertkit.train keywords (None: the setfit peer)
    "bertkit-few-shot": {"method": "few-shot"},
    "bertkit-few-shot-as-setfit": {"method": "few-shot", "batch_size": 16, "epochs": 1},
    "bertkit-fine-tune": {},
    "setfit": None,
}
NUM_ITERATIONS = 20


def draw_per_class(pool: list[dict], n: int, seed: int) -> list[dict]:
    """`n` rows of every label (seeded), shuffled with the same generator."""
    rng = np.random.default_rng(seed)
    labels = np.asarray([int(r["label"]) for r in pool])
    picked = np.concatenate([rng.choice(np.flatnonzero(labels == k), n, replace=False) for k in np.unique(labels)])
    return [pool[i] for i in rng.permutation(picked)]


def run_bertkit(folder: Path, seed: int, options: dict) -> dict:
    import keras

    import bertkit
    from bertkit.core.precision import resolve_policy

    keras.backend.clear_session()  # runs share the process: drop the previous run's graphs
    start = time.perf_counter()
    result = bertkit.train(data=str(folder), output=None, seed=seed, verbose=False, **options)
    wall = time.perf_counter() - start
    m = result.metrics
    return {"accuracy": m["accuracy"], "wall_seconds": wall, "train_seconds": result.stats["train_seconds"],
            "test_seconds": m.get("eval_seconds"), "policy": resolve_policy(options.get("mixed_precision", "auto"))}


def run_setfit(python: Path, model_dir: str, folder: Path, seed: int, max_length: int) -> dict:
    out = runs.run_peer(python, "setfit_fit.py", "--model", model_dir, "--train", folder / "train.jsonl",
                        "--test", folder / "test.jsonl", "--seed", seed, "--num-iterations", NUM_ITERATIONS,
                        "--max-length", max_length)
    return {"accuracy": out["accuracy"], "wall_seconds": out["wall_seconds"], "train_seconds": out["train_seconds"],
            "test_seconds": out["test_seconds"], "load_seconds": out["load_seconds"], "peer_settings": out["settings"],
            "peer_versions": out["versions"], "threads": out["threads"]}


def system_options(name: str, args) -> dict:
    """A system's settings: bertkit.train keywords (protocol and user options merged), or setfit's flags."""
    base = SYSTEMS[name]
    if base is None:
        # body_max_seq_length: the peer also caps the body at max_length (774e7a4); older rows lack it and rerun.
        return {"num_iterations": NUM_ITERATIONS, "max_length": args.max_seq_length, "body_max_seq_length": True}
    if base.get("method") == "few-shot":
        return {"max_seq_length": args.max_seq_length, "pair_iterations": NUM_ITERATIONS, **base,
                **args.few_shot_options}
    return {"max_seq_length": args.max_seq_length, **base, **args.fine_tune_options}


def run_grid(args, log: runs.RunLog, python: Path | None, model_dir: str) -> None:
    for dataset in args.datasets.split(","):
        pool = runs.train_pool(dataset)
        if args.score_on == "selection":
            test, test_what = runs.selection_set(dataset, args.selection_samples, args.selection_min_words)
        else:
            test, test_what = runs.test_set(dataset, args.test_samples if dataset == "imdb" else args.sst2_test_samples)
        for n in map(int, args.per_class.split(",")):
            for seed in map(int, args.seeds.split(",")):
                with tempfile.TemporaryDirectory(prefix="bertkit-few-") as tmp:
                    folder = Path(tmp)
                    train = draw_per_class(pool, n, seed)
                    scored = runs.without(test, train) if args.score_on == "selection" else test
                    runs.write_rows(folder / "train.jsonl", train)
                    runs.write_rows(folder / "test.jsonl", scored)
                    info = {"dataset": dataset, "per_class": n, "seed": seed, "test": test_what, "test_n": len(scored)}
                    for name in args.systems.split(","):
                        options = system_options(name, args)
                        key = f"{dataset}/{n}/{seed}/{name}"
                        if log.done(key, options) or (name == "setfit" and python is None):
                            continue
                        if name == "setfit":
                            row = run_setfit(python, model_dir, folder, seed, args.max_seq_length)
                        else:
                            row = run_bertkit(folder, seed, options)
                        log.add(key, {**info, "system": name, "options": options, **row})
                        print(f"{key}: accuracy {row['accuracy']:.4f}, {row['wall_seconds']:.0f} s", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="sst2,imdb")
    p.add_argument("--per-class", default="8,16,64")
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--test-samples", type=int, default=None, help="IMDB only: score a seeded sample of this many "
                   "test reviews (the same for every run); default all")
    p.add_argument("--sst2-test-samples", type=int, default=None, help="SST-2: the same (for smoke runs); default all")
    p.add_argument("--score-on", choices=("test", "selection"), default="test", help="selection: score on held-out "
                   "rows of the train file instead of the test split, to choose settings without seeing the test")
    p.add_argument("--selection-samples", type=int, default=1000)
    p.add_argument("--selection-min-words", type=int, default=10, help="SST-2's train file is mostly phrases, its "
                   "test split sentences (median 18 words): select on the longer rows")
    p.add_argument("--systems", default="bertkit-few-shot,bertkit-fine-tune,setfit",
                   help=f"comma-separated, of {', '.join(SYSTEMS)}")
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--few-shot-options", type=json.loads, default={}, help="JSON bertkit.train keywords for the "
                   "few-shot systems")
    p.add_argument("--fine-tune-options", type=json.loads, default={}, help="JSON bertkit.train keywords for "
                   "bertkit-fine-tune, e.g. '{\"epochs\": 10}'")
    p.add_argument("--peers-venv", default=str(runs.REPO / ".venv-peers"))
    p.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    unknown = [s for s in args.systems.split(",") if s not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown system(s) {unknown}; known: {', '.join(SYSTEMS)}")

    from bertkit.weights import default_model_path

    model_dir = str(args.model or default_model_path())
    name = "few_shot" + (f"-{args.tag}" if args.tag else "")
    # The model as asked ("default": the packaged MiniLM), not its path: the path differs between checkouts.
    setup = {"model": args.model or "default", "test_samples": args.test_samples, "sst2_test_samples": args.sst2_test_samples,
             "max_seq_length": args.max_seq_length}
    if args.score_on == "selection":  # only then, so that the test grids' logs keep their setup
        setup.update(score_on="selection", selection_samples=args.selection_samples,
                     selection_min_words=args.selection_min_words)
    log = runs.RunLog(runs.RESULTS / f"{name}.partial.jsonl", setup)
    python = runs.ensure_venv(Path(args.peers_venv), runs.PEER_REQUIREMENTS) if "setfit" in args.systems else None
    run_grid(args, log, python, model_dir)
    rows = [{k: v for k, v in r.items() if k != "setup"} for r in log.runs.values()]
    result = {"protocol": {**setup, "model_path": model_dir, "per_class": args.per_class, "seeds": args.seeds, "datasets": args.datasets,
                           "systems": {s: system_options(s, args) for s in args.systems.split(",")},
                           "setfit_num_iterations": NUM_ITERATIONS},
              **report(rows), "versions": versions()}
    write_result(name, result)
    runs.print_summary(result["summary"], lambda s: f"{s['per_class']:3d}/class")
    for c in result["vs_setfit"]:
        ratio = c["setfit_wall_over_bertkit_wall"]
        print(f"{c['dataset']:5s} {c['per_class']:3d}/class {c['system']:28s} accuracy - setfit "
              f"{c['accuracy_minus_setfit']:+.4f} (seed by seed: standard error "
              f"{c['paired_difference_standard_error'] or float('nan'):.4f}, ahead at {c['seeds_ahead']}, behind at "
              f"{c['seeds_behind']} of {c['paired_seeds']}); setfit wall / bertkit wall "
              f"{'n/a' if ratio is None else f'{ratio:.2f}'} ({c['wall_pairs_same_machine']} same-machine pairs)")


def report(rows: list[dict]) -> dict:
    """Mean and sd per (dataset, N, system); each bertkit system against setfit: the accuracy difference of
    the means, the same seed by seed (both saw the same examples: mean, its standard error and the seeds
    ahead), and setfit's wall time over bertkit's averaged over the seeds that ran on one machine."""
    summary = runs.summarize(rows, ("dataset", "per_class", "system"))
    by = {(s["dataset"], s["per_class"], s["system"]): s for s in summary}
    comparisons = []
    for (dataset, n, system), s in by.items():
        peer = by.get((dataset, n, "setfit"))
        if system.startswith("bertkit") and peer:
            ratios = runs.paired_wall_ratios(rows, {"dataset": dataset, "per_class": n}, system, "setfit")
            diffs = [a["accuracy"] - b["accuracy"]
                     for a, b in runs.paired_runs(rows, {"dataset": dataset, "per_class": n}, system, "setfit")]
            comparisons.append({"dataset": dataset, "per_class": n, "system": system,
                                "accuracy_minus_setfit": s["accuracy_mean"] - peer["accuracy_mean"],
                                "paired_seeds": len(diffs),
                                "paired_difference_standard_error": (float(np.std(diffs, ddof=1) / np.sqrt(len(diffs)))
                                                                     if len(diffs) > 1 else None),
                                "seeds_ahead": int(sum(d > 0 for d in diffs)),
                                "seeds_behind": int(sum(d < 0 for d in diffs)),
                                "setfit_wall_over_bertkit_wall": float(np.mean(ratios)) if ratios else None,
                                "wall_pairs_same_machine": len(ratios)})
    return {"runs": rows, "summary": summary, "vs_setfit": comparisons}


if __name__ == "__main__":
    main()
