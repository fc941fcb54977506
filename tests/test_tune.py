"""`bertkit tune` on the tiny BERT and tiny data: a search writes its table, plot, best run and the command
that reproduces it; a pruned trial stops; a search killed mid-trial resumes; bad input gets one message."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

import bertkit  # noqa: E402
from bertkit.cli import build_parser, main  # noqa: E402
from bertkit.core.errors import BertkitError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Small and quick: 2 epochs at most of 38 training rows (48 minus the 20 % held out).
TUNE_KW = dict(max_seq_length=16, mixed_precision="float32", learning_rate_range=(1e-3, 3e-3), epochs_range=(1, 2),
               batch_sizes=(8,), warmup_fraction_range=(0.0, 0.1), poolings=("mean",), head_dropout_range=(0.0, 0.1))
CLI_FLAGS = ["--max-seq-length", "16", "--mixed-precision", "float32", "--learning-rate-range", "1e-3,3e-3",
             "--batch-sizes", "8", "--poolings", "mean", "--quiet", "--no-report"]


class PruneTrialOne(optuna.pruners.BasePruner):
    """Prunes trial 1 at its first report and no other: a trial that must be pruned."""

    def prune(self, study, trial):
        return trial.number == 1


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from conftest import tiny_rows, write_jsonl

    folder = tmp_path_factory.mktemp("tune_data")
    write_jsonl(folder / "train.jsonl", tiny_rows(48, 0))
    write_jsonl(folder / "test.jsonl", tiny_rows(16, 1))
    return folder


@pytest.fixture(scope="module")
def search(tmp_path_factory, data, tiny_model_dir):
    out = tmp_path_factory.mktemp("tune") / "search"
    result = bertkit.tune(data=str(data), output=str(out), model=str(tiny_model_dir), trials=3, verbose=False,
                          pruner=PruneTrialOne(), **{**TUNE_KW, "epochs_range": (2, 2)})
    return result, out


def _study(out: Path):
    settings = json.loads((out / "tune.json").read_text())
    return optuna.load_study(study_name=settings["study_name"], storage=f"sqlite:///{out / 'tune.db'}")


def test_search_writes_table_plot_best_run_and_command(search):
    result, out = search
    rows = json.loads((out / "study.json").read_text())
    assert [r["state"] for r in rows] == ["COMPLETE", "PRUNED", "COMPLETE"]
    csv_lines = (out / "study.csv").read_text().splitlines()
    assert csv_lines[0].startswith("trial,state,learning_rate,epochs,batch_size") and len(csv_lines) == 4
    assert all(1e-3 <= r["learning_rate"] <= 3e-3 and r["batch_size"] == 8 and r["wall_seconds"] > 0 for r in rows)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    assert result.best_trial in {r["trial"] for r in complete}
    assert result.search_value == max(r["value"] for r in complete)
    page = (out / "report" / "index.html").read_text()
    assert (out / "report" / "tune_trials.png").stat().st_size > 1000 and 'data-file="tune_trials.png"' in page
    assert "PRUNED" in page and result.command in page
    assert (out / "best" / "model" / "model.weights.h5").exists()
    assert result.final_metrics["n"] == 16  # the real test split, once, for the best settings
    assert json.loads((out / "best.json").read_text())["best_params"] == result.best_params


def test_trials_are_runs_scored_on_held_out_train(search):
    _, out = search
    for n in (0, 2):
        trial = out / f"trial-{n:03d}"
        start = json.loads((trial / "history.jsonl").read_text().splitlines()[0])
        assert start["train_examples"] == 38 and "held out" in start["data"]
        assert json.loads((trial / "metrics.json").read_text())["n"] == 10  # 20 % of the 48 training rows
        assert (trial / "model" / "bertkit.json").exists() and (trial / "report" / "index.html").exists()
        assert not (trial / "checkpoints").exists()  # dropped once the trial finished
        assert start["test_data"].endswith("train.jsonl")  # the held-out rows' texts are read back from it


def test_pruned_trial_stopped_after_its_first_epoch(search):
    _, out = search
    pruned = _study(out).trials[1]
    assert pruned.state == optuna.trial.TrialState.PRUNED
    assert pruned.params["epochs"] == 2 and pruned.user_attrs["epochs_run"] == 1
    epochs = [json.loads(line) for line in (out / "trial-001" / "history.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1] and not (out / "trial-001" / "model").exists()


def test_a_trial_is_not_pruned_at_its_last_epoch(data, tiny_model_dir, tmp_path):
    # PruneTrialOne would stop trial 1 at its first report; with one epoch that report is its result
    bertkit.tune(data=str(data), output=str(tmp_path / "s"), model=str(tiny_model_dir), trials=2, verbose=False,
                 report=False, pruner=PruneTrialOne(), **{**TUNE_KW, "epochs_range": (1, 1)})
    assert [t.state for t in _study(tmp_path / "s").trials] == [optuna.trial.TrialState.COMPLETE] * 2


def test_the_printed_command_reproduces_the_best_run(search, tmp_path, capsys):
    result, out = search
    argv = result.command.split()[1:]
    args = build_parser().parse_args(argv)
    for key, value in result.best_params.items():
        assert getattr(args, key) == value, key
    again = tmp_path / "again"
    assert main(argv[:argv.index("--output") + 1] + [str(again)] + argv[argv.index("--output") + 2:]
                + ["--quiet", "--no-report"]) == 0
    mine = json.loads((again / "metrics.json").read_text())
    best = json.loads((out / "best" / "metrics.json").read_text())
    assert mine["accuracy"] == best["accuracy"] and mine["n"] == best["n"]


def test_bertkit_report_rebuilds_the_search_report(search, capsys):
    result, out = search
    (out / "report" / "index.html").unlink()
    assert main(["report", str(out)]) == 0 and "report written to" in capsys.readouterr().out
    page = (out / "report" / "index.html").read_text()
    assert result.command in page and page.count("<tr>") == 1 + 3  # the header and three trials


def test_summary_names_best_settings_metrics_and_command(search):
    from bertkit.tuning import summary

    result, _ = search
    text = summary(result)
    assert f"{result.best_trial}: accuracy {result.search_value:.4f}" in text
    assert "final accuracy" in text and result.command in text and "learning_rate=" in text


def test_on_epoch_hook_sees_each_evaluation_and_can_stop_the_run(tmp_path, data, tiny_model_dir):
    seen = []

    def hook(epoch, metrics):
        seen.append((epoch, metrics["accuracy"]))
        if epoch == 2:
            raise KeyboardInterrupt  # anything the hook raises stops the run there

    with pytest.raises(KeyboardInterrupt):
        bertkit.train(data=str(data), output=str(tmp_path / "run"), model=str(tiny_model_dir), epochs=3,
                      batch_size=8, learning_rate=1e-3, max_seq_length=16, mixed_precision="float32",
                      verbose=False, on_epoch=hook)
    assert [e for e, _ in seen] == [1, 2]
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history if r["kind"] == "epoch"] == [1, 2]  # logged, then stopped: no epoch 3
    assert not (tmp_path / "run" / "model").exists()


# ---- resume after a kill ----------------------------------------------------------------------------


def _states(db: Path) -> dict[int, str]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            return dict(c.execute("SELECT number, state FROM trials").fetchall())
    except sqlite3.OperationalError:  # the tables are not created yet, or the database is locked
        return {}


def test_a_killed_search_resumes_and_reruns_only_the_killed_trial(tmp_path, data, tiny_model_dir, capsys):
    out = tmp_path / "search"
    argv = ["tune", "--data", str(data), "--output", str(out), "--model", str(tiny_model_dir), "--trials", "3",
            "--epochs-range", "2,2", *CLI_FLAGS]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = tmp_path / "killed.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "bertkit.cli", *argv], env=env, stdout=f, stderr=f)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            states = _states(out / "tune.db")
            running = [n for n, s in states.items() if s == "RUNNING"]
            # Killed inside a running trial's training (its run folder has started its history).
            if "COMPLETE" in states.values() and running and (out / f"trial-{running[0]:03d}" / "history.jsonl").exists():
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the search ended before it could be killed: {log.read_text()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = _study(out).trials
    killed = next(t for t in before if t.state == optuna.trial.TrialState.RUNNING)
    done_before = {t.number: t.datetime_complete for t in before if t.state == optuna.trial.TrialState.COMPLETE}

    code, err = main([*argv, "--resume"]), capsys.readouterr().err
    assert code == 0 and f"trial {killed.number} was left running" in err
    after = _study(out).trials
    states = [t.state.name for t in after]
    assert states.count("COMPLETE") + states.count("PRUNED") == 3 and "RUNNING" not in states
    assert after[killed.number].state == optuna.trial.TrialState.FAIL
    retry = [t for t in after if t.user_attrs.get("retry_of") == killed.number]
    assert len(retry) == 1 and retry[0].params == killed.params and retry[0].state.name == "COMPLETE"
    assert {t.number: t.datetime_complete for t in after if t.number in done_before} == done_before  # not re-run
    assert len(after) == 3 + 1  # the three finished trials and the killed one, nothing else
    fresh = [tuple(sorted(t.params.items())) for t in after if t.number != killed.number and t not in retry]
    assert len(set(fresh)) == len(fresh)  # the resumed sampler did not propose the first trials again
    assert (out / "best" / "model" / "bertkit.json").exists()


def test_the_first_trial_runs_the_given_settings_and_samples_the_rest(data, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "s"
    bertkit.tune(data=str(data), output=str(out), model=str(tiny_model_dir), trials=2, verbose=False, report=False,
                 first_trial="learning-rate=2e-3, pooling=mean", **TUNE_KW)
    trials = _study(out).trials
    assert trials[0].params["learning_rate"] == 2e-3 and trials[0].params["pooling"] == "mean"
    assert 1 <= trials[0].params["epochs"] <= 2 and 0.0 <= trials[0].params["warmup_fraction"] <= 0.1  # sampled
    assert trials[1].params["learning_rate"] != 2e-3  # the sampler's own
    rows = json.loads((out / "study.json").read_text())
    assert [r["given"] for r in rows] == [True, False]
    saved = json.loads((out / "trial-000" / "model" / "train_config.json").read_text())
    assert saved["learning_rate"] == 2e-3  # the run itself trained with it
    assert "trial 0 (--first-trial) COMPLETE" in capsys.readouterr().err
    assert json.loads((out / "tune.json").read_text())["first_trial"] == {"learning_rate": 2e-3, "pooling": "mean"}


def test_a_killed_first_trial_is_retried_as_given():
    from bertkit.tuning.study import recover_killed_trials

    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"learning_rate": 5e-5}, user_attrs={"given": True})
    trial = study.ask()
    trial.suggest_float("learning_rate", 1e-5, 1e-4, log=True)  # then the process dies: the trial stays RUNNING
    assert recover_killed_trials(study) == [0]
    retry = study.ask()
    assert retry.suggest_float("learning_rate", 1e-5, 1e-4, log=True) == 5e-5
    assert retry.user_attrs == {"retry_of": 0, "given": True}


# ---- bad input: one message each --------------------------------------------------------------------


def _fails(capsys, *argv) -> str:
    code = main(["tune", *argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    return err


def test_no_dev_split_for_the_final_evaluation(tmp_path, capsys):
    from conftest import tiny_rows, write_jsonl

    write_jsonl(tmp_path / "train.jsonl", tiny_rows(16, 0))
    err = _fails(capsys, "--data", str(tmp_path / "train.jsonl"), "--output", str(tmp_path / "out"))
    assert f"--data {tmp_path / 'train.jsonl'}: no dev or test split" in err and "dev.jsonl" in err
    assert not (tmp_path / "out").exists()


def test_a_metric_the_task_does_not_have(tmp_path, data, capsys):
    err = _fails(capsys, "--data", str(data), "--output", str(tmp_path / "out"), "--metric", "rouge")
    assert "--metric rouge: task 'classify' has no such metric; its metrics are accuracy, f1," in err
    err = _fails(capsys, "--data", str(data), "--output", str(tmp_path / "out"), "--task", "regression",
                 "--metric", "accuracy")
    assert "its metrics are pearson, spearman" in err


@pytest.mark.parametrize("url, words", [
    ("sqlite:////nonexistent/dir/x.db", "cannot open it (" ),
    ("mysql://user@localhost/bertkit", "its database driver is not installed"),
    ("not a url", "cannot open it ("),
])
def test_an_unreachable_or_invalid_storage(tmp_path, data, capsys, url, words):
    err = _fails(capsys, "--data", str(data), "--output", str(tmp_path / "out"), "--storage", url)
    assert f"--storage {url}: {words}" in err and "sqlite:///" in err


def test_a_storage_password_is_not_printed(tmp_path, data, capsys):
    err = _fails(capsys, "--data", str(data), "--output", str(tmp_path / "out"), "--storage",
                 "mysql://user:s3cret@localhost/bertkit")
    assert "--storage mysql://user:***@localhost/bertkit: its database driver is not installed" in err
    assert "s3cret" not in err


def test_zero_trials_and_inverted_ranges(tmp_path, data, capsys):
    out = str(tmp_path / "out")
    assert "--trials must be at least 1; got 0." in _fails(capsys, "--data", str(data), "--output", out, "--trials", "0")
    err = _fails(capsys, "--data", str(data), "--output", out, "--learning-rate-range", "1e-4,1e-5")
    assert "--learning-rate-range: the low end 0.0001 is above the high end 1e-05" in err
    err = _fails(capsys, "--data", str(data), "--output", out, "--epochs-range", "3,1")
    assert "--epochs-range: the low end 3 is above the high end 1" in err
    assert "--poolings: 'max' is not a pooling" in _fails(capsys, "--data", str(data), "--output", out,
                                                          "--poolings", "cls,max")
    assert not Path(out).exists()


@pytest.mark.parametrize("given, words", [
    ("lr=5e-5", "--first-trial: 'lr' is not a searched setting; give KEY=VALUE for any of learning_rate, epochs,"),
    ("learning_rate=5e-4", "--first-trial: learning_rate=0.0005 is outside --learning-rate-range 1e-05,0.0001; "
                           "widen the range"),
    ("epochs=2.5", "--first-trial epochs: '2.5' is not a whole number."),
    ("batch_size=64", "--first-trial: batch_size=64 is not among --batch-sizes 16,32; add it there"),
    ("pooling=max", "--first-trial: pooling=max is not among --poolings cls,mean"),
    ("learning_rate 5e-5", "--first-trial: expected KEY=VALUE items separated by commas, got 'learning_rate 5e-5'"),
])
def test_a_first_trial_outside_the_search_space(tmp_path, data, capsys, given, words):
    err = _fails(capsys, "--data", str(data), "--output", str(tmp_path / "out"), "--first-trial", given)
    assert words in err
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_a_searched_setting_given_fixed(tmp_path, data):
    with pytest.raises(BertkitError, match=r"--learning-rate \(learning_rate\) is set by the search: give its range "
                                           r"or choices instead \(--learning-rate-range\)"):
        bertkit.tune(data=str(data), output=str(tmp_path / "out"), learning_rate=1e-3)
    with pytest.raises(BertkitError, match=r"\(--poolings\)"):
        bertkit.tune(data=str(data), output=str(tmp_path / "out"), pooling="cls")


def test_an_earlier_search_needs_resume_and_resume_needs_one(tmp_path, data, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tune.json").write_text("{}")
    err = _fails(capsys, "--data", str(data), "--output", str(out))
    assert f"{out} holds an earlier search: pass --resume to continue it, or choose a new --output." in err
    err = _fails(capsys, "--data", str(data), "--output", str(tmp_path / "empty"), "--resume")
    assert "--resume: " in err and "holds no search to resume" in err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    err = _fails(capsys, "--data", str(data), "--output", str(tmp_path / "other"))
    assert "exists and is not a bertkit tune folder; choose another --output." in err


def test_resume_with_other_settings_is_refused(search, data, capsys):
    _, out = search
    err = _fails(capsys, "--data", str(data), "--output", str(out), "--resume", "--max-seq-length", "32")
    assert f"--resume: {out} was started with other settings (" in err and "options: " in err
    assert "Resume with the same flags" in err
    err = _fails(capsys, "--data", str(data), "--output", str(out), "--resume", *CLI_FLAGS,
                 "--first-trial", "learning_rate=2e-3")
    assert "first_trial: None then, {'learning_rate': 0.002} now" in err


def test_without_optuna_the_message_says_how_to_install(monkeypatch):
    from bertkit.tuning.study import import_optuna

    monkeypatch.setitem(sys.modules, "optuna", None)  # what an absent package looks like to `import`
    with pytest.raises(BertkitError, match=r"bertkit tune needs optuna: pip install 'bertkit\[tune\]'"):
        import_optuna()


def test_the_command_names_every_searched_setting_even_at_trains_defaults():
    from bertkit.tuning.final import train_command

    # An unset --pooling is the pretrained model's own pooling, not cls: the command must say cls.
    params = dict(learning_rate=2e-5, epochs=3, batch_size=32, warmup_fraction=0.1, pooling="cls", head_dropout=0.1)
    cmd = train_command("data dir", Path("runs/best"), None, "classify", {"symmetric": "on"},
                        {"max_seq_length": 64, **params})
    assert cmd.startswith("bertkit train --data 'data dir' --output runs/best --task-option symmetric=on")
    args = build_parser().parse_args(cmd.split(" ", 1)[1].replace("'data dir'", "data").split())
    assert {k: getattr(args, k) for k in params} == params and args.max_seq_length == 64


@pytest.mark.parametrize("from_epoch, pruned_at_epoch_1", [(1, True), (2, False)])
def test_median_pruner_flags(from_epoch, pruned_at_epoch_1):
    from bertkit.tuning.study import median_pruner

    study = optuna.create_study(direction="maximize", pruner=median_pruner(startup_trials=1, from_epoch=from_epoch))
    first = study.ask()
    first.report(0.9, 1)
    study.tell(first, 0.9)
    worse = study.ask()
    worse.report(0.1, 1)  # below the median (0.9) of the earlier trial at epoch 1
    assert bool(worse.should_prune()) is pruned_at_epoch_1


def test_a_search_fraction_that_leaves_nothing_held_out(tmp_path, data, capsys):
    err = _fails(capsys, "--data", str(data), "--output", str(tmp_path / "out"), "--search-fraction", "0.01")
    assert "--search-fraction 0.01 of 48 training examples leaves no held-out examples" in err
    assert "--search-fraction must be at most 0.5; got 0.9." in _fails(
        capsys, "--data", str(data), "--output", str(tmp_path / "out"), "--search-fraction", "0.9")
