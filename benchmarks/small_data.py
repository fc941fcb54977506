"""Accuracy on small training sets (issue 21): bertkit vs Hugging Face transformers + PyTorch, many seeds.

Protocol (the issue's): all-MiniLM-L6-v2 (the packaged folder, which both sides load), 1 epoch, lr 1e-4,
batch 32, max_seq_length 128, 500 / 1,000 / 2,000 training examples, seeds 1-5, on IMDB and SST-2.

* Training examples: per (dataset, seed) a seeded permutation of the train file (imdb/train.jsonl,
  sst2/train.jsonl); a size takes its first N, so the 500 are inside the 1,000 of the same seed. They
  are written to `train.jsonl` in that order and bertkit reads the folder (`data=<folder>`, seed = the
  run's seed).
* Same steps on both sides: bertkit batches by length (a seeded shuffle, sorted within 50 batches,
  batches shuffled: `bertkit.data.batching.bucketed_order`). The script records the batches bertkit's
  run actually took and hands them, with bertkit's own token ids (head+tail truncation), to the peer
  (`peers/hf_finetune.py`, in `.venv-peers`), so both take the same optimizer steps on the same
  examples in the same order. Variant `file-order` gives bertkit the file's random order instead (as a
  `RandomSampler` would), to see what the length-sorted batches cost.
* Test: SST-2's labelled test split (1,821 sentences). IMDB: its unseen-movie test reviews are held out
  of shared/data, so a seeded sample (seed 0, `--imdb-test 500`) of imdb/test.jsonl without the reviews
  whose text is also in imdb_full/train.jsonl: the same reviews for every run.
* The peer: `AutoModelForSequenceClassification` ([CLS] + tanh pooler, softmax over 2 logits), fp32, AdamW
  (eps 1e-8) with linear warm-up and decay as `Trainer` builds them, clipping 1.0, with bertkit's warm-up
  fraction (0.1) and weight decay (0.01); `Trainer`'s own defaults are 0 and 0 (peer variant
  `trainer-defaults`).
* bertkit as shipped: mean pooling (what the sentence-transformers model was trained with), one sigmoid
  unit for 2 labels (there is no softmax option for binary classify), AdamW eps 1e-6, head dropout 0.1,
  `mixed_precision="auto"` (bf16 where the CPU has it, else float32; recorded per run).

Variants for the gap investigation (`--variants a,b` by preset name, or JSON `{"name": {train kwargs}}`):
bertkit ones are `bertkit.train` keywords plus `order: "file"`; `--peer-variants` are `hf_finetune.py`
options (`head`, `pooling`, `warmup_ratio`, `weight_decay`). Presets: see VARIANTS and PEER_VARIANTS.
bertkit has no option for a softmax binary head, its head's initialisation (truncated normal 0.02, as
HF's normal 0.02) or bf16 for only the first steps: the first is asked from the peer's side
(`sigmoid`), precision as a whole by `fp32` / `bf16` (bf16 is emulated and slow on CPUs without it).

Every finished run is appended to `benchmarks/results/small_data[-TAG].partial.jsonl`; a rerun skips
those (same protocol and options). The result, `small_data[-TAG].json`, has per run accuracy and wall
seconds (model load, tokenizing, training and testing), the mean and standard deviation per (dataset,
size, system), bertkit minus HF accuracy and the HF/bertkit wall-time ratio, and the machine.

The issue's grid (the defaults), then the gap experiments under their own tag:

    BERTKIT_DATA=/work/shared/data python benchmarks/small_data.py --datasets imdb,sst2 \\
        --train-sizes 500,1000,2000 --seeds 1,2,3,4,5 --imdb-test 500
    BERTKIT_DATA=/work/shared/data python benchmarks/small_data.py --tag gap \\
        --variants file-order,cls,fp32,no-warmup,no-head-dropout --peer-variants sigmoid,mean,trainer-defaults

Time on 2 cores (AMD EPYC Zen 3, no bf16, so float32): each bertkit run costs ~30-50 s of model
building and tracing and each peer run ~30 s of imports and loading (the smoke run: 16 examples, one
step, 50 IMDB test reviews: bertkit 52 s, HF 33 s on IMDB; with SST-2's 1,821 test sentences 115 s and
94 s, the cores shared with other jobs). Both train about 8 IMDB rows of 128 tokens a second
(docs/speed.md), SST-2 rows several times faster, so one (size, seed) IMDB run at 2,000 examples is
~5 min per system; the default grid is about 3 hours on idle cores and twice that on shared ones. Each
bertkit variant adds about half the grid's time, each peer variant the same.
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

PROTOCOL = {"epochs": 1, "learning_rate": 1e-4, "batch_size": 32, "max_seq_length": 128}
VARIANTS = {  # bertkit.train keywords (+ "order": "file"): one question each
    "file-order": {"order": "file"},  # random batches instead of length-sorted ones
    "cls": {"pooling": "cls"},  # the [CLS] pooler, as the peer
    "mean": {"pooling": "mean"},
    "fp32": {"mixed_precision": "float32"},  # no bf16, even where the CPU has it
    "bf16": {"mixed_precision": "mixed_bfloat16"},
    "no-warmup": {"warmup_fraction": 0.0},
    "warmup-0.2": {"warmup_fraction": 0.2},
    "no-head-dropout": {"head_dropout": 0.0},
    "head-truncation": {"truncation": "head"},  # bertkit only: the peer keeps the base run's ids
}
PEER_VARIANTS = {  # hf_finetune.py options
    "sigmoid": {"head": "sigmoid"},  # one logit + binary cross-entropy, as bertkit's head
    "mean": {"pooling": "mean"},  # masked mean + new linear head, as bertkit's default
    "trainer-defaults": {"warmup_ratio": 0.0, "weight_decay": 0.0},
}


def parse_variants(spec: str | None, presets: dict) -> dict[str, dict]:
    """`a,b` (preset names) or a JSON object `{"name": {options}}` -> {name: options}."""
    if not spec:
        return {}
    if spec.lstrip().startswith("{"):
        return json.loads(spec)
    unknown = [n for n in spec.split(",") if n not in presets]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; presets: {', '.join(presets)}, or pass JSON.")
    return {n: presets[n] for n in spec.split(",")}


class BatchSpy:
    """Wraps `bertkit.data.batching.bucketed_order` for one run: records the batches each epoch took, and
    with `order="file"` replaces them by the rows in file order (epoch 1) or a seeded shuffle (later)."""

    def __init__(self, order: str | None):
        import bertkit.data.batching as batching

        self.module, self.original, self.order = batching, batching.bucketed_order, order
        self.epochs: list[list[np.ndarray]] = []
        self.lengths = None

    def __call__(self, lengths, batch_size, rng):
        self.lengths = np.asarray(lengths)
        if self.order == "file":
            rows = np.arange(len(lengths)) if not self.epochs else rng.permutation(len(lengths))
            batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        else:
            batches = self.original(lengths, batch_size, rng)
        self.epochs.append(batches)
        return batches

    def __enter__(self):
        self.module.bucketed_order = self
        return self

    def __exit__(self, *exc):
        self.module.bucketed_order = self.original


def run_bertkit(folder: Path, seed: int, options: dict) -> dict:
    """One `bertkit.train` on `folder` (train.jsonl, test.jsonl); accuracy on the test file and the batches."""
    import keras

    import bertkit
    from bertkit.core.precision import resolve_policy

    keras.backend.clear_session()  # runs share the process: drop the previous run's graphs
    options = dict(options)
    order = options.pop("order", None)
    kwargs = {**PROTOCOL, **options}
    start = time.perf_counter()
    with BatchSpy(order) as spy:
        result = bertkit.train(data=str(folder), output=None, seed=seed, verbose=False, **kwargs)
    wall = time.perf_counter() - start
    m = result.metrics
    return {"accuracy": m["accuracy"], "wall_seconds": wall, "train_seconds": result.stats["train_seconds"],
            "test_seconds": m.get("eval_seconds"), "policy": resolve_policy(kwargs.get("mixed_precision", "auto")),
            "batches": [b.tolist() for b in spy.epochs[0]], "lengths": spy.lengths.tolist()}


class Tokenizer:
    """bertkit's token rows (its tokenizer and head+tail truncation) of raw rows: the peer trains and tests
    on exactly the ids bertkit does."""

    def __init__(self, model_dir: str):
        import bertkit
        from bertkit.core.config import PreprocessConfig, TaskConfig
        from bertkit.tasks.classify import ClassifyTask
        from bertkit.tasks.runner import TaskRunner

        tokenizer = bertkit.load_tokenizer(model_dir)
        preprocess = PreprocessConfig(max_seq_length=PROTOCOL["max_seq_length"], do_lower_case=tokenizer.do_lower_case)
        self.runner = TaskRunner(ClassifyTask(TaskConfig(labels=("0", "1"), label_type="int"), preprocess, tokenizer))

    def __call__(self, rows: list[dict]):
        """`(FeatureSet, labels [N])` of `rows` in their order."""
        from bertkit.data import Example

        features = self.runner.features([Example(r["text"], label=int(r["label"])) for r in rows])
        return features, np.asarray([int(r["label"]) for r in rows])


def dense(word_ids: list, width: int) -> np.ndarray:
    out = np.zeros((len(word_ids), width), np.int32)
    for i, row in enumerate(word_ids):
        out[i, :len(row)] = row
    return out


def peer_npz(path: Path, train, test, batches: list[list[int]]) -> Path:
    """What hf_finetune.py reads: ids, lengths and labels of the training rows (file order) and of the test
    rows (`(FeatureSet, labels)` each), and bertkit's batches (flattened, with their end offsets)."""
    width = PROTOCOL["max_seq_length"]
    np.savez(path, train_ids=dense(train[0].word_ids, width), train_lengths=train[0].lengths, train_labels=train[1],
             test_ids=dense(test[0].word_ids, width), test_lengths=test[0].lengths, test_labels=test[1],
             order=np.concatenate([np.asarray(b, np.int64) for b in batches]),
             batch_bounds=np.cumsum([len(b) for b in batches]))
    return path


def run_hf(python: Path, model_dir: str, npz: Path, seed: int, options: dict) -> dict:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    out = runs.run_peer(python, "hf_finetune.py", "--model", model_dir, "--data", npz, "--seed", seed,
                        "--lr", PROTOCOL["learning_rate"], "--epochs", PROTOCOL["epochs"], *flags)
    return {"accuracy": out["accuracy"], "wall_seconds": out["wall_seconds"], "train_seconds": out["train_seconds"],
            "test_seconds": out["test_seconds"], "train_loss": out["train_loss"], "peer_versions": out["versions"],
            "threads": out["threads"]}


def run_grid(args, log: runs.RunLog, variants: dict, peer_variants: dict, python: Path | None, model_dir: str):
    for dataset in args.datasets.split(","):
        pool = runs.train_pool(dataset)
        test, test_what = runs.test_set(dataset, args.imdb_test if dataset == "imdb" else None)
        tokenize, test_rows = None, None  # made when a peer run first needs them
        for seed in map(int, args.seeds.split(",")):
            perm = np.random.default_rng(seed).permutation(len(pool))
            for size in map(int, args.train_sizes.split(",")):
                drawn = perm[:size]
                with tempfile.TemporaryDirectory(prefix="bertkit-small-") as tmp:
                    folder = Path(tmp)
                    runs.write_rows(folder / "train.jsonl", [pool[i] for i in drawn])
                    runs.write_rows(folder / "test.jsonl", test)
                    base = f"{dataset}/{size}/{seed}"
                    info = {"dataset": dataset, "size": size, "seed": seed, "test": test_what, "test_n": len(test)}
                    for name, options in {"bertkit": {}, **{f"bertkit:{n}": o for n, o in variants.items()}}.items():
                        if log.done(f"{base}/{name}", options):
                            continue
                        row = run_bertkit(folder, seed, options)
                        log.add(f"{base}/{name}", {**info, "system": name, "options": options, **row})
                        print(f"{base} {name}: accuracy {row['accuracy']:.4f}, {row['wall_seconds']:.0f} s", flush=True)
                    if python is None:
                        continue
                    bertkit_row = log.runs[f"{base}/bertkit"]
                    for name, options in {"hf": {}, **{f"hf:{n}": o for n, o in peer_variants.items()}}.items():
                        options = {**args.peer_base, **options}
                        if log.done(f"{base}/{name}", options):
                            continue
                        if tokenize is None:
                            tokenize = Tokenizer(model_dir)
                            test_rows = tokenize(test)
                        train_rows = tokenize([pool[i] for i in drawn])
                        check_same_rows(train_rows[0], bertkit_row)
                        npz = peer_npz(folder / "peer.npz", train_rows, test_rows, bertkit_row["batches"])
                        row = run_hf(python, model_dir, npz, seed, options)
                        log.add(f"{base}/{name}", {**info, "system": name, "options": options, **row})
                        print(f"{base} {name}: accuracy {row['accuracy']:.4f}, {row['wall_seconds']:.0f} s", flush=True)


def check_same_rows(features, bertkit_row: dict) -> None:
    """The peer's rows must be the ones bertkit trained on: their lengths are compared row by row."""
    if not np.array_equal(features.lengths, np.asarray(bertkit_row["lengths"])):
        raise SystemExit("the token rows made for the peer differ from bertkit's training rows; "
                         "bertkit's preprocessing changed, update small_data.Tokenizer.")


def report(log: runs.RunLog) -> dict:
    rows = [{k: v for k, v in r.items() if k not in ("batches", "lengths", "setup")} for r in log.runs.values()]
    summary = runs.summarize(rows, ("dataset", "size", "system"))
    by = {(s["dataset"], s["size"], s["system"]): s for s in summary}
    comparisons = []
    for (dataset, size, system), s in by.items():
        hf = by.get((dataset, size, "hf"))
        if system.startswith("bertkit") and hf:
            ratios = runs.paired_wall_ratios(rows, {"dataset": dataset, "size": size}, system, "hf")
            comparisons.append({"dataset": dataset, "size": size, "system": system,
                                "accuracy_minus_hf": s["accuracy_mean"] - hf["accuracy_mean"],
                                "hf_wall_over_bertkit_wall": float(np.mean(ratios)) if ratios else None,
                                "wall_pairs_same_machine": len(ratios)})
    return {"runs": rows, "summary": summary, "vs_hf": comparisons}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="imdb,sst2")
    p.add_argument("--train-sizes", default="500,1000,2000")
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--imdb-test", type=int, default=500,
                   help="IMDB test reviews (a seeded sample, the same for every run)")
    p.add_argument("--variants", default="", help="bertkit variants: preset names (a,b) or JSON")
    p.add_argument("--peer-variants", default="", help="HF variants: preset names or JSON")
    p.add_argument("--peer-warmup-ratio", type=float, default=None, help="default: bertkit's warmup_fraction")
    p.add_argument("--peer-weight-decay", type=float, default=None, help="default: bertkit's weight_decay")
    p.add_argument("--skip-peers", action="store_true")
    p.add_argument("--peers-venv", default=str(runs.REPO / ".venv-peers"))
    p.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    p.add_argument("--tag", default="")
    args = p.parse_args()

    from bertkit.core.config import TrainConfig
    from bertkit.weights import default_model_path

    model_dir = args.model or default_model_path()
    defaults = TrainConfig()
    warmup, decay = args.peer_warmup_ratio, args.peer_weight_decay  # None: bertkit's own, so only the systems differ
    args.peer_base = {"warmup_ratio": defaults.warmup_fraction if warmup is None else warmup,
                      "weight_decay": defaults.weight_decay if decay is None else decay}
    variants = parse_variants(args.variants, VARIANTS)
    peer_variants = parse_variants(args.peer_variants, PEER_VARIANTS)
    name = "small_data" + (f"-{args.tag}" if args.tag else "")
    # The model as asked ("default": the packaged MiniLM), not its path: the path differs between checkouts.
    setup = {**PROTOCOL, "model": args.model or "default", "imdb_test": args.imdb_test}
    log = runs.RunLog(runs.RESULTS / f"{name}.partial.jsonl", setup)
    python = None if args.skip_peers else runs.ensure_venv(Path(args.peers_venv), runs.PEER_REQUIREMENTS)
    run_grid(args, log, variants, peer_variants, python, str(model_dir))
    result = {"protocol": {**setup, "model_path": str(model_dir), "train_sizes": args.train_sizes, "seeds": args.seeds, "datasets": args.datasets,
                           "variants": variants, "peer_variants": peer_variants, "peer_base": args.peer_base},
              **report(log), "versions": versions()}
    write_result(name, result)
    runs.print_summary(result["summary"], lambda s: f"{s['size']:5d}")


if __name__ == "__main__":
    main()
