"""What the accuracy benchmarks over many seeds share (small_data.py, few_shot.py): the peers' virtual
environment, drawing the training examples once per seed into a file every system reads, a resumable
log of finished runs, and mean / standard deviation per group.

Runs take minutes each and a full grid takes hours on 2 cores, so each finished run is appended to
`<result>.partial.jsonl` at once; a rerun with the same arguments skips the runs found there. The partial
file is committed (a grid outlives a session, and a session's untracked files do not), and every row
records the machine it ran on: accuracy pairs compare across sessions, wall times only within one machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import commit, machine

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "peers"
RESULTS = Path(__file__).resolve().parent / "results"
# The CPU wheel: `pip install torch` without a pin resolves to the multi-GB CUDA build here.
TORCH = "torch==2.13.0"


def data_root() -> Path:
    return Path(os.environ.get("BERTKIT_DATA") or REPO.parent / "shared" / "data")


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"text": row["text"], "label": int(row["label"])}, ensure_ascii=False) + "\n")
    return path


# Everything the peer scripts import; one list, so both benchmarks share one install in .venv-peers.
PEER_REQUIREMENTS = [TORCH, "transformers>=4.46,<6", "safetensors", "setfit", "sentence-transformers", "scikit-learn"]
TRAIN_FILES = {"imdb": "imdb/train.jsonl", "sst2": "sst2/train.jsonl"}
TEST_FILES = {"imdb": "imdb/test.jsonl", "sst2": "sst2/test.jsonl"}
TEST_SEED = 0  # one test set for every run, whatever the run's seed
SELECTION_SEED = 1  # the held-out training rows that settings are chosen on (few_shot.py --score-on selection)


def test_set(dataset: str, samples: int | None) -> tuple[list[dict], str]:
    """The test rows every run of `dataset` is scored on, and a sentence saying which they are.

    The 2,000 IMDB test reviews whose movies appear in no split are held out of shared/data (see its
    README), so IMDB is a seeded sample of imdb/test.jsonl without the reviews whose text also occurs in
    imdb_full/train.jsonl (the official split repeats a few); SST-2 is its labelled test split.
    """
    rows = read_rows(data_root() / TEST_FILES[dataset])
    what = f"{TEST_FILES[dataset]} ({len(rows):,} rows)"
    if dataset == "imdb":
        seen = {r["text"] for r in read_rows(data_root() / "imdb_full" / "train.jsonl")}
        rows = [r for r in rows if r["text"] not in seen]
        what += f", {len(rows):,} whose text is not in imdb_full/train.jsonl"
    if samples is not None and samples < len(rows):
        keep = np.sort(np.random.default_rng(TEST_SEED).choice(len(rows), samples, replace=False))
        rows = [rows[i] for i in keep]
        what += f", a sample of {samples:,} (seed {TEST_SEED}, file order)"
    return rows, what


def selection_set(dataset: str, samples: int, min_words: int) -> tuple[list[dict], str]:
    """A seeded sample of the train file's rows of at least `min_words` words, to choose settings on without
    looking at the test split. A run drops the rows it trains on (see `without`)."""
    pool = [r for r in train_pool(dataset) if len(r["text"].split()) >= min_words]
    keep = np.sort(np.random.default_rng(SELECTION_SEED).choice(len(pool), min(samples, len(pool)), replace=False))
    return ([pool[i] for i in keep], f"{TRAIN_FILES[dataset]}: {len(keep):,} rows of >= {min_words} words "
            f"(seed {SELECTION_SEED}, file order), less each run's training rows")


def without(rows: list[dict], drop: list[dict]) -> list[dict]:
    texts = {r["text"] for r in drop}
    return [r for r in rows if r["text"] not in texts]


def train_pool(dataset: str) -> list[dict]:
    return read_rows(data_root() / TRAIN_FILES[dataset])


def ensure_venv(venv: Path, requirements: list[str]) -> Path:
    """The peers' Python, installing `requirements` into `venv` the first time they are asked for. One marker
    per requirement set, so speed.py's peers and these can share one `.venv-peers`."""
    python = venv / "bin" / "python"
    marker = venv / (".peers-" + hashlib.sha1("\n".join(sorted(requirements)).encode()).hexdigest()[:10])
    if not marker.exists():
        print(f"installing {' '.join(requirements)} into {venv} (one time) ...", flush=True)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
        marker.touch()
    return python


def run_peer(python: Path, script: str, *args) -> dict:
    """Runs `peers/<script>` in the peers' venv; its last stdout line is one JSON object. The wall time
    includes the interpreter start and imports, as bertkit's includes building the model."""
    cmd = [str(python), str(PEERS / script), *map(str, args)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-15:]
        raise RuntimeError(f"{script} failed (exit {out.returncode}):\n" + "\n".join(tail))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "wall_seconds": wall}


class RunLog:
    """Finished runs, one JSON line each in `path`; `key` names a run (its dataset, size, seed, system)."""

    def __init__(self, path: Path, setup: dict):
        self.path = path
        self.setup = setup
        self.runs: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                if row.get("setup") == setup:  # runs of other settings (e.g. other test sizes) do not count
                    self.runs[row["key"]] = row
        path.parent.mkdir(parents=True, exist_ok=True)

    def done(self, key: str, options: dict) -> bool:
        """Whether `key` finished with these options (a preset whose options changed runs again)."""
        return key in self.runs and self.runs[key].get("options") == options

    def add(self, key: str, row: dict) -> None:
        row = {"key": key, "setup": self.setup, "machine": machine(), "commit": commit(), **row}
        with open(self.path, "a", encoding="utf-8") as f:  # one line per run: a crash loses at most the current one
            f.write(json.dumps(row, default=str) + "\n")
        self.runs[key] = row


def summarize(runs: list[dict], group_by: tuple[str, ...], values: tuple[str, ...] = ("accuracy", "wall_seconds")):
    """Mean, sample standard deviation and count of `values` per group of `group_by` fields."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        if "error" not in r:
            groups.setdefault(tuple(r[k] for k in group_by), []).append(r)
    out = []
    for key, rows in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        entry = dict(zip(group_by, key), n=len(rows))
        for v in values:
            xs = [float(r[v]) for r in rows]
            entry[f"{v}_mean"] = statistics.fmean(xs)
            entry[f"{v}_std"] = statistics.stdev(xs) if len(xs) > 1 else 0.0
        out.append(entry)
    return out


def paired_runs(rows: list[dict], match: dict, system: str, peer: str) -> list[tuple[dict, dict]]:
    """(system's run, peer's run) for each seed both finished among the runs matching `match` (e.g. dataset
    and size): the same examples, so their results compare seed by seed."""
    def of(name):
        return {r["seed"]: r for r in rows if r["system"] == name and "error" not in r
                and all(r.get(k) == v for k, v in match.items())}

    mine, theirs = of(system), of(peer)
    return [(mine[s], theirs[s]) for s in sorted(mine.keys() & theirs.keys())]


def paired_wall_ratios(rows: list[dict], match: dict, system: str, peer: str) -> list[float]:
    """`peer` wall / `system` wall for each seed of `paired_runs` whose two runs ran on the same CPU with the
    same oneDNN setting: a grid can span sessions on different machines, and wall times compare only within one."""
    def cpu(r):
        m = r.get("machine") or {}
        return (m.get("cpu"), m.get("cpu_family"), m.get("cpu_model"), m.get("tf_enable_onednn_opts"))

    return [b["wall_seconds"] / a["wall_seconds"] for a, b in paired_runs(rows, match, system, peer)
            if cpu(a) == cpu(b)]


def accuracy(gold, predicted) -> float:
    return float(np.mean(np.asarray(gold) == np.asarray(predicted)))


def print_summary(summary: list[dict], label) -> None:
    """One line per (dataset, setting, system) group: mean +- std accuracy and the wall time per run."""
    for s in summary:
        print(f"{s['dataset']:5s} {label(s)} {s['system']:28s} accuracy {s['accuracy_mean']:.4f} "
              f"+- {s['accuracy_std']:.4f} (n={s['n']}), {s['wall_seconds_mean']:.0f} s per run")

