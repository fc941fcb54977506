"""The Optuna study of a search: importing optuna (the optional `tune` extra), opening its RDB storage,
creating or reloading the study, and recovering the trials a killed process left RUNNING.

The study lives in an RDB storage (SQLite in the output folder by default) so a search killed at any
point can be continued with `--resume`: finished trials are kept, and a trial that was running when the
process died is marked FAIL and its settings are queued to run again from the start.
"""

from __future__ import annotations

from pathlib import Path

from bertkit.core.errors import BertkitError

STORAGE_FILE = "tune.db"
FINISHED = ("COMPLETE", "PRUNED")  # the trial states that count towards --trials


def import_optuna():
    """`optuna`, quiet (bertkit prints one line per trial), or a clear message if it is not installed."""
    try:
        import optuna
    except ImportError:
        raise BertkitError("bertkit tune needs optuna: pip install 'bertkit[tune]' (or `make install`).") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage(output: Path) -> str:
    return f"sqlite:///{(Path(output) / STORAGE_FILE).resolve()}"


def open_storage(url: str):
    """An `optuna.storages.RDBStorage` for `url`, or one message naming the URL and the fix."""
    optuna = import_optuna()
    import sqlalchemy.exc

    shown = _without_password(url)
    try:
        return optuna.storages.RDBStorage(url)
    except ImportError as e:  # the URL's database driver (pymysql, psycopg2, ...) is not installed
        raise BertkitError(f"--storage {shown}: its database driver is not installed ({e}). Install it (e.g. pip "
                           "install pymysql for mysql+pymysql://...), or use sqlite:///PATH.") from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as e:
        reason = str(e).splitlines()[0]
        raise BertkitError(f"--storage {shown}: cannot open it ({reason}). Give a database URL Optuna can reach, "
                           "e.g. sqlite:///PATH/tune.db in an existing, writable folder.") from None


def _without_password(url: str) -> str:
    """`url` as it may be printed: a database password is replaced by ***."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return url


def load_study(storage, name: str, *, seed: int, pruner, resume: bool):
    """Creates the study `name` in `storage`, or reloads it with `resume`.

    Raises:
        BertkitError: `resume` without a study of that name, or a study already there without `resume`.
    """
    optuna = import_optuna()
    exists = name in optuna.study.get_all_study_names(storage=storage)
    url = _without_password(getattr(storage, "url", storage))
    if resume and not exists:
        raise BertkitError(f"--resume: the storage {url} holds no search {name!r} to resume; run without --resume "
                           "to start one.")
    if exists and not resume:
        raise BertkitError(f"the storage {url} already holds the search {name!r}: pass --resume to continue it, or "
                           "choose a new --output (or --storage).")
    sampler = optuna.samplers.TPESampler(seed=seed)  # a seeded search proposes the same settings again
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                                direction="maximize", load_if_exists=True)
    done = len(study.get_trials(deepcopy=False))
    if done:  # resumed: a sampler seeded as at the start would propose the first trials' settings again
        study.sampler = optuna.samplers.TPESampler(seed=seed + done)
    return study


def median_pruner(startup_trials: int, from_epoch: int):
    """Stops a trial whose dev metric at an epoch is below the median of earlier trials at that epoch."""
    return import_optuna().pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=from_epoch)


def recover_killed_trials(study) -> list[int]:
    """Marks trials left RUNNING by a killed process FAIL and queues their settings again.

    Only one process runs a bertkit search, so a RUNNING trial at start-up is one whose process died.

    Returns:
        The numbers of the trials that were recovered.
    """
    state = import_optuna().trial.TrialState
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        study.tell(trial.number, state=state.FAIL)
        given = {"given": True} if trial.user_attrs.get("given") else {}
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number, **given})
        recovered.append(trial.number)
    return recovered


def finished_trials(study) -> int:
    return sum(t.state.name in FINISHED for t in study.get_trials(deepcopy=False))
