"""One trial: sample its settings, run a normal bertkit training in `OUTPUT/trial-NNN` on the search split,
report each epoch's dev metric to the pruner, and tell the study how it ended."""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from pathlib import Path

from bertkit.core.errors import BertkitError
from bertkit.data import ExampleSplits
from bertkit.tuning.space import SearchSpace
from bertkit.tuning.study import import_optuna


@dataclasses.dataclass
class TrialSetup:
    """What every trial of a search shares."""

    output: Path
    splits: ExampleSplits  # the training data split into the trials' train and their held-out "dev"
    space: SearchSpace
    metric: str
    model: str | None
    task: str
    task_options: dict
    options: dict  # the fixed `bertkit.train` options (max_seq_length, seed, ...)
    verbose: bool
    report: bool


def trial_dir(output: Path, number: int) -> Path:
    return Path(output) / f"trial-{number:03d}"


def run_trial(study, setup: TrialSetup):
    """Runs the study's next trial to its end and tells the study; returns the finished `FrozenTrial`."""
    from bertkit.api import train

    optuna = import_optuna()
    trial = study.ask()
    params = setup.space.suggest(trial)
    folder = trial_dir(setup.output, trial.number)
    trial.set_user_attr("run_dir", str(folder))
    epochs, start = [], time.perf_counter()

    def on_epoch(epoch: int, metrics: dict) -> None:
        value = metrics.get(setup.metric)
        epochs.append(epoch)
        if isinstance(value, (int, float)) and math.isfinite(value):
            trial.report(float(value), epoch)
            # At the last epoch stopping saves nothing: the trial's result is kept as a completed value for TPE.
            if epoch < params["epochs"] and trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: {setup.metric} {value:.4f} is below the median of the "
                                         "earlier trials at that epoch")

    value, state = None, optuna.trial.TrialState.COMPLETE
    try:
        result = train(data=setup.splits, output=str(folder), model=setup.model, task=setup.task,
                               task_options=setup.task_options, verbose=setup.verbose, on_epoch=on_epoch,
                               **setup.options, **params)
        value = (result.metrics or {}).get(setup.metric)
    except optuna.TrialPruned as e:
        state = optuna.trial.TrialState.PRUNED
        trial.set_user_attr("pruned", str(e))
    except BertkitError as e:  # e.g. a learning rate that made training diverge: a failed trial, not a failed search
        state = optuna.trial.TrialState.FAIL
        trial.set_user_attr("error", str(e))
        print(f"bertkit tune: trial {trial.number} failed: {e}", file=sys.stderr)
    if state == optuna.trial.TrialState.COMPLETE and not (isinstance(value, (int, float)) and math.isfinite(value)):
        state = optuna.trial.TrialState.FAIL
        trial.set_user_attr("error", f"the run gave no finite {setup.metric} ({value!r})")
    trial.set_user_attr("epochs_run", len(epochs))
    trial.set_user_attr("wall_seconds", round(time.perf_counter() - start, 2))
    _tidy(folder, setup.report)
    return study.tell(trial, value if state == optuna.trial.TrialState.COMPLETE else None, state=state)


def _tidy(folder: Path, report: bool) -> None:
    """After a trial: drop its checkpoints (a finished trial is never resumed, and a ring of optimizer states
    per trial would fill the disk), free the Keras graph state, and build its report when asked."""
    import keras

    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    keras.backend.clear_session()  # trials run one after another in this process
    if report and folder.exists():
        from bertkit.report import build_report

        try:
            build_report(folder)
        except BertkitError as e:
            print(f"bertkit tune: no report for {folder} ({e})", file=sys.stderr)
