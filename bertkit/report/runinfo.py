"""What a run folder holds, read tolerantly: `history.jsonl`, `metrics.json` and the bundle configs.

A report is most wanted when a run went wrong, so nothing here raises on a damaged or partial run:
each problem becomes a note (a sentence naming the file and what is missing) and reading goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bertkit.core import bundle as bundle_lib
from bertkit.core.config import PreprocessConfig, TaskConfig
from bertkit.core.errors import BertkitError


@dataclass
class RunInfo:
    """The parts of a run folder the report uses; None (or empty) where the run did not write them.

    Attributes:
        run_dir: the run folder.
        start: the "start" history record of the last run written into the folder.
        train: "train" records (step, epoch, loss, learning_rate) of that run.
        epochs: "epoch" records (epoch, train_loss, epoch_seconds, eval) of that run.
        best: the "best" record (epoch, metric) when the run kept its best epoch's weights.
        metrics: `metrics.json` (the final evaluation).
        bundle: the model bundle folder, when complete.
        preprocess, task_config: the bundle's configs.
        missing: one sentence per thing that could not be read, for the top of the report.
    """

    run_dir: Path
    start: dict | None = None
    train: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    best: dict | None = None
    metrics: dict | None = None
    bundle: Path | None = None
    preprocess: PreprocessConfig | None = None
    task_config: TaskConfig | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def task(self) -> str | None:
        if self.task_config is not None:
            return self.task_config.task
        return (self.start or {}).get("task")


def read_history(path: Path) -> tuple[list[dict], list[str]]:
    """Reads `history.jsonl`; returns (records, notes about lines that could not be used).

    A last line without its newline is what a killed run leaves behind: it is skipped with a note,
    as is any other line that is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], [f"{path.name} not found: no training curves (was the run started with an older bertkit, "
                    "or killed before its first step?)."]
    records, notes = [], []
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("kind"), str):
            records.append(record)
        elif number == len(lines):  # no newline after it: cut off mid-write
            notes.append(f"{path.name}: the last line ({number}) is truncated (the run was probably killed); "
                         "it was skipped.")
        else:
            notes.append(f"{path.name}:{number}: not a history record; skipped.")
    return records, notes


def last_run(records: list[dict]) -> tuple[dict | None, list[dict], int]:
    """The records of the last run in the file (a run folder trained twice holds two runs).

    A run resumed with `--resume` logs "resume" then a new "start": it continues the same run, so its
    records are taken from the first start of that chain on, and the latest start describes it.

    Returns:
        (start record or None, records of that run without its start records, number of runs in the file).
    """
    starts = [i for i, r in enumerate(records) if r.get("kind") == "start"]
    if not starts:
        return None, records, 0
    first = len(starts) - 1
    while first > 0 and starts[first] > 0 and records[starts[first] - 1].get("kind") == "resume":
        first -= 1
    runs = sum(1 for j, i in enumerate(starts) if j == 0 or records[i - 1].get("kind") != "resume")
    rest = [r for r in records[starts[first] + 1:] if r.get("kind") != "start"]
    return records[starts[-1]], rest, runs


def _latest(records: list[dict], key: str) -> list[dict]:
    """One record per `key` value (the last logged: a resumed run repeats the steps after its checkpoint)."""
    by_key = {}
    for r in records:
        by_key[r.get(key)] = r
    return sorted(by_key.values(), key=lambda r: (r.get(key) is None, r.get(key) or 0))


def read_run(run_dir) -> RunInfo:
    """Reads everything the report needs from `run_dir`, noting what is missing.

    Raises:
        BertkitError: `run_dir` does not exist or is not a folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BertkitError(f"{run_dir}: no such run folder. Pass the --output folder of `bertkit train`.")
    info = RunInfo(run_dir)
    records, notes = read_history(run_dir / "history.jsonl")
    info.missing += notes
    start, run_records, runs = last_run(records)
    info.start = start
    if records and start is None:
        info.missing.append("history.jsonl has no \"start\" record: the data and settings of the run are unknown.")
    if runs > 1:
        info.missing.append(f"history.jsonl holds {runs} runs written into the same folder; the report shows "
                            "the last one.")
    info.train = _latest([r for r in run_records if r.get("kind") == "train"], "step")
    info.epochs = _latest([r for r in run_records if r.get("kind") == "epoch"], "epoch")
    info.best = next((r for r in reversed(run_records) if r.get("kind") == "best"), None)
    if records and not info.train:
        info.missing.append("history.jsonl has no training steps: no loss or learning-rate curves.")
    if records and not info.epochs:
        info.missing.append("history.jsonl has no finished epoch: no evaluation curves "
                            "(the run stopped during its first epoch).")

    metrics_path = run_dir / "metrics.json"
    if metrics_path.exists():
        try:
            info.metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            info.missing.append("metrics.json is not valid JSON; final metrics are taken from the history.")
    _read_bundle(info)
    return info


def _read_bundle(info: RunInfo) -> None:
    try:
        folder = bundle_lib.find_bundle(info.run_dir)
    except BertkitError:
        info.missing.append(f"{info.run_dir}/model: no complete model bundle (the run did not finish?): "
                            "no predictions, token lengths or error analysis.")
        return
    try:  # only the two configs the report needs: a bundle from another bertkit version may still do
        info.preprocess = PreprocessConfig.load(folder / "preprocess_config.json")
        info.task_config = TaskConfig.load(folder / "task_config.json")
    except BertkitError as e:
        info.missing.append(f"the model bundle's configs cannot be read ({e}): no predictions, token lengths "
                            "or error analysis.")
        return
    info.bundle = folder
