"""`bertkit.tune`: a search over fine-tuning settings with Optuna (TPE, seeded; median pruning per epoch;
an RDB study that `resume` continues), each trial a normal bertkit run in `OUTPUT/trial-NNN` scored on a
held-out part of the training data, then the best settings retrained on all of it into `OUTPUT/best`."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from bertkit.core.config import PreprocessConfig, TaskConfig, TrainConfig, split_options
from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_write_text
from bertkit.tasks import get_task_class
from bertkit.tuning import report as report_lib
from bertkit.tuning.data import search_splits
from bertkit.tuning.final import BEST_DIR, retrain_best, train_command
from bertkit.tuning.objective import TrialSetup, run_trial
from bertkit.tuning.space import SEARCHED, SearchSpace, TuneConfig, range_flag
from bertkit.tuning.study import (STORAGE_FILE, default_storage, finished_trials, load_study, median_pruner,
                                  open_storage, recover_killed_trials)

SETTINGS_FILE = "tune.json"
SAMPLING = ("train_samples", "test_samples", "samples_per_class")  # applied once, by the search's own read
MAX_FAILURES = 3  # failed trials in a row before the search gives up (a broken setup, not bad luck)


@dataclasses.dataclass
class TuneResult:
    """What `bertkit.tune` returns (and the CLI prints)."""

    output: Path
    metric: str
    best_trial: int
    best_params: dict
    search_value: float  # the best trial's metric on the held-out part of the training data
    final_metrics: dict  # the best settings retrained on all the training data, on the dev/test split
    command: str  # the `bertkit train` command of that retrain
    trials: list[dict]  # the study table
    table: Path
    report: Path | None


def _check_output(out: Path, resume: bool) -> None:
    """As `bertkit train`: an earlier search is continued only with `resume`, and nothing else is overwritten."""
    ours = (out / SETTINGS_FILE).exists() or (out / STORAGE_FILE).exists()
    if resume and not ours:
        raise BertkitError(f"--resume: {out} holds no search to resume (no {SETTINGS_FILE}); run without --resume.")
    if not resume and ours:
        raise BertkitError(f"{out} holds an earlier search: pass --resume to continue it, or choose a new --output.")
    if not ours and out.exists() and any(out.iterdir()):
        raise BertkitError(f"{out}: exists and is not a bertkit tune folder; choose another --output.")


def _metric(task_cls, metric: str | None) -> str:
    if metric is None:
        return task_cls.metrics[0]
    if metric not in task_cls.metrics:
        raise BertkitError(f"--metric {metric}: task {task_cls.name!r} has no such metric; its metrics are "
                           f"{', '.join(task_cls.metrics)} (default: {task_cls.metrics[0]}).")
    return metric


def _split_options(options: dict) -> tuple[dict, dict, dict]:
    """`tune`'s keywords -> (search space, search settings, fixed `bertkit.train` options), checked."""
    space, tune, train, pre, head = split_options(options, SearchSpace, TuneConfig, TrainConfig, PreprocessConfig,
                                                  TaskConfig)
    fixed = {**train, **pre, **head}
    searched = [k for k in SEARCHED if k in fixed]
    if searched:
        flag = "--" + searched[0].replace("_", "-")
        raise BertkitError(f"{flag} ({searched[0]}) is set by the search: give its range or choices instead "
                           f"({range_flag(searched[0])}); LOW = HIGH, or a single choice, fixes it.")
    TrainConfig(**train), PreprocessConfig(**pre)  # bad values fail now, not in the first trial
    if fixed.get("method", "fine-tune") != "fine-tune":
        raise BertkitError(f"bertkit tune searches fine-tuning settings; --method {fixed['method']} is not supported.")
    # Only what differs from train's defaults: the CLI passes every flag, Python only those given, and a
    # search started one way can be resumed the other.
    defaults = {f.name: f.default for c in (TrainConfig, PreprocessConfig, TaskConfig) for f in c.options()}
    return space, tune, {k: v for k, v in fixed.items() if v != defaults[k]}


def _settings(out: Path, settings: dict, resume: bool) -> dict:
    """Writes the search's settings to OUTPUT/tune.json; on resume checks they are the ones it started with."""
    path = out / SETTINGS_FILE
    if resume and path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = [k for k in settings if k != "study_name" and before.get(k) != settings[k]]
        if changed:
            diffs = "; ".join(f"{k}: {before.get(k)!r} then, {settings[k]!r} now" for k in changed)
            raise BertkitError(f"--resume: {out} was started with other settings ({diffs}). Resume with the same "
                               "flags (only --trials and the pruning flags may change), or choose a new --output.")
        return before
    atomic_write_text(path, json.dumps(settings, indent=2, default=str) + "\n")
    return settings


def tune(data="imdb", output=None, *, model=None, task: str = "classify", task_options: dict | None = None,
         resume: bool = False, verbose: bool = True, report: bool = True, pruner=None, **options) -> TuneResult:
    """Searches learning rate, epochs, batch size, warm-up, pooling and head dropout for `data`.

    Args:
        data, model, task, task_options: as `bertkit.train`.
        output: the search folder: `tune.json`, `tune.db` (the Optuna study), `trial-NNN/` (one bertkit run per
            trial), `best/` (the best settings retrained on all the training data), `study.csv` / `study.json`
            and `report/`.
        resume: continue the search in `output` (trials a killed process left running are run again).
        verbose: the trials' progress bars; one line per trial is printed either way.
        report: build each trial's run report and the search report (needs matplotlib).
        pruner: an Optuna pruner to use instead of the median pruner (`prune_*` options).
        **options: `SearchSpace` ranges (`learning_rate_range=(1e-5, 1e-4)`, ...), `TuneConfig` settings
            (`trials`, `metric`, `search_fraction`, `storage`, `first_trial="learning_rate=5e-5,epochs=5"` or
            a dict, ...) and the fixed `bertkit.train` options
            (`max_seq_length`, `seed`, ...; not the searched ones).

    Returns:
        A `TuneResult`: the best trial, its settings and search value, the final dev/test metrics, the
        `bertkit train` command that reproduces the best run and the study table.
    """
    if output is None:
        raise BertkitError("bertkit tune needs an --output folder (its study, trials and best run go there).")
    space_opts, tune_opts, fixed = _split_options(options)
    space, config, train_config = SearchSpace(**space_opts), TuneConfig(**tune_opts), TrainConfig(
        **{k: v for k, v in fixed.items() if k in {f.name for f in TrainConfig.options()}})
    first = space.first_trial(config.first_trial) if config.first_trial else None
    out = Path(output)
    _check_output(out, resume)
    task_cls = get_task_class(task)
    metric = _metric(task_cls, config.metric)
    splits = search_splits(task_cls, data, train_config, config.search_fraction)
    out.mkdir(parents=True, exist_ok=True)
    storage = open_storage(config.storage or default_storage(out))
    settings = _settings(out, {"data": str(data), "task": task, "model": model, "task_options": task_options or {},
                               "options": fixed, "space": space.to_dict(), "metric": metric,
                               "search_fraction": config.search_fraction, "first_trial": first,
                               "study_name": f"bertkit-tune:{out.resolve()}"}, resume)
    study = load_study(storage, settings["study_name"], seed=train_config.seed, resume=resume,
                       pruner=pruner or median_pruner(config.prune_startup_trials, config.prune_from_epoch))
    if first and not study.get_trials(deepcopy=False):  # a new study; a resumed one has it already
        study.enqueue_trial(first, user_attrs={"given": True})
    for number in recover_killed_trials(study):
        print(f"bertkit tune: trial {number} was left running by a killed process: marked FAIL, its settings "
              "queued again", file=sys.stderr)
    setup = TrialSetup(out, splits, space, metric, model, task, task_options or {},
                       {k: v for k, v in fixed.items() if k not in SAMPLING}, verbose, report)
    _search(study, setup, config.trials)
    return _finish(study, setup, data, fixed, report)


def _search(study, setup: TrialSetup, trials: int) -> None:
    failures = 0
    while finished_trials(study) < trials:
        t = run_trial(study, setup)
        report_lib.write_table(report_lib.study_rows(study), setup.output)  # readable while the search runs
        failures = failures + 1 if t.state.name == "FAIL" else 0
        value = t.value if t.value is not None else (list(t.intermediate_values.values()) or [None])[-1]
        shown = f"{setup.metric} {value:.4f}" if value is not None else t.user_attrs.get("error", "")
        given = " (--first-trial)" if t.user_attrs.get("given") else ""
        print(f"bertkit tune: trial {t.number}{given} {t.state.name} ({finished_trials(study)}/{trials} finished): "
              f"{shown}; "
              + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in t.params.items()),
              file=sys.stderr)
        if failures >= MAX_FAILURES:
            raise BertkitError(f"{failures} trials in a row failed (the last: {t.user_attrs.get('error')}); fix that "
                               f"and continue with --resume. The trials are in {setup.output}.")


def _finish(study, setup: TrialSetup, data, fixed: dict, report: bool) -> TuneResult:
    rows = report_lib.study_rows(study)
    table, _ = report_lib.write_table(rows, setup.output)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        raise BertkitError(f"no trial completed (all were pruned or failed; see {table}): widen the ranges, raise "
                           "--prune-startup-trials, or add --trials, and continue with --resume.")
    best = study.best_trial
    options = {**fixed, **best.params}
    result = retrain_best(data, setup.output, model=setup.model, task=setup.task, task_options=setup.task_options,
                          options=options, verbose=setup.verbose)
    command = train_command(data, setup.output / BEST_DIR, setup.model, setup.task, setup.task_options, options)
    tuned = TuneResult(setup.output, setup.metric, best.number, dict(best.params), best.value, result.metrics,
                       command, rows, table, None)
    atomic_write_text(setup.output / report_lib.BEST_FILE, json.dumps(
        {k: v for k, v in dataclasses.asdict(tuned).items() if k not in ("trials", "report")}, indent=2,
        default=str) + "\n")
    if report:
        tuned.report = report_lib.build_tune_report(setup.output, rows, setup.metric, facts(tuned))
    return tuned


def facts(t: TuneResult) -> list[tuple[str, str]]:
    """The search's outcome as (label, text) pairs: the report's header and the printed summary."""
    return report_lib.outcome_facts(t.output, len(t.trials), t.metric, t.best_trial, t.search_value,
                                    t.best_params, t.final_metrics, t.command)


def summary(t: TuneResult) -> str:
    """The lines `bertkit tune` prints at the end."""
    lines = ["", "=" * 72, f"bertkit tune: done  ({t.output}, {len(t.trials)} trials)"]
    lines += [f"  {k:<15}{v}" for k, v in facts(t)[2:]]
    lines.append(f"  study table    {t.table} (and study.json)")
    lines.append(f"  report         {t.report}" if t.report else "  report         not built")
    return "\n".join(lines)
