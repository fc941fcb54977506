"""The end of a search: the best settings retrained on all the training data into `OUTPUT/best` and
evaluated once on the real dev/test split, and the `bertkit train` command that does the same."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from bertkit.core.config import PreprocessConfig, TaskConfig, TrainConfig, flag_of
from bertkit.core.errors import BertkitError

BEST_DIR = "best"


def train_command(data, output: Path, model, task: str, task_options: dict, options: dict) -> str:
    """The `bertkit train` command line for these settings (flags as `bertkit train --help` names them)."""
    fields = {f.name: f for c in (TrainConfig, PreprocessConfig, TaskConfig) for f in c.flags()}
    words = ["bertkit", "train", "--data", str(data), "--output", str(output)]
    if model is not None:
        words += ["--model", str(model)]
    if task != "classify":
        words += ["--task", task]
    for key, value in task_options.items():
        words += ["--task-option", f"{key}={value}"]
    for name, value in options.items():  # every one, even at its field default: --pooling unset is not cls
        flag = flag_of(fields[name])
        if isinstance(value, bool):
            words += [flag] if value else []
        elif value is not None:
            words += [flag, repr(value) if isinstance(value, float) else str(value)]  # repr: exact floats
    return shlex.join(words)


def _stale(folder: Path, config: TrainConfig) -> bool:
    """True when `folder` holds a retrain of other settings (an earlier best of a search since extended)."""
    try:
        first = json.loads((folder / "history.jsonl").read_text(encoding="utf-8").splitlines()[0])
    except (OSError, IndexError, ValueError):
        return True
    return first.get("config") != config.to_dict()


def retrain_best(data, output: Path, *, model, task: str, task_options: dict, options: dict, verbose: bool):
    """Trains `options` (the fixed ones plus the best trial's) on all of `data` into `output/best`.

    A retrain killed before it finished is resumed from its checkpoint; one of other settings is replaced.

    Returns:
        The `bertkit.TrainResult` (metrics on the data's test, else dev, split).
    """
    from bertkit.api import train

    folder = Path(output) / BEST_DIR
    config = TrainConfig(**{k: v for k, v in options.items() if k in {f.name for f in TrainConfig.options()}})
    resume = (folder / "checkpoints" / "checkpoint").exists()
    if folder.exists() and (not resume or _stale(folder, config)):
        print(f"bertkit tune: replacing {folder} (an unfinished or earlier retrain)", file=sys.stderr)
        shutil.rmtree(folder)
        resume = False
    result = train(data=data, output=str(folder), model=model, task=task, task_options=task_options,
                           resume=resume, verbose=verbose, **options)
    if not result.metrics:
        raise BertkitError(f"{folder}: the retrained best settings were not evaluated; the data needs a dev or "
                           "test split.")
    return result
