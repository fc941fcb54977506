"""What a user's terminal shows: every `bertkit` command, run as the user runs it (a fresh process, the
console script's `main`), writes to stderr only lines bertkit itself wrote (its progress and messages),
none of TensorFlow's start-up notices or warnings; `--verbose` shows them. And no task retraces its
graph functions while training, evaluating or predicting (TensorFlow's retracing warning fails here)."""

import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import tiny_rows, write_jsonl

# Every line bertkit writes to stderr has one of these shapes.
OWN = re.compile("|".join([
    r"^bertkit: fine-tuning ",  # the run's one-line description
    r"^epoch \d+/\d+ \[",  # the progress bar (carriage returns between updates)
    r"^epoch \d+: eval ",
    r"^missing: ",  # `bertkit report`: what the report could not draw
]))


def bertkit_cli(*args, timeout=600, env=None):
    code = "import sys; from bertkit.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def foreign_lines(stderr: str) -> list[str]:
    lines = [part for line in stderr.splitlines() for part in line.split("\r") if part.strip()]
    return [line for line in lines if not OWN.search(line)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("terminal")
    write_jsonl(folder / "train.jsonl", tiny_rows(24, 0))
    write_jsonl(folder / "test.jsonl", tiny_rows(8, 1))
    return folder, tiny_model_dir


def test_every_command_prints_only_bertkit_lines(workspace):
    folder, model = workspace
    run = folder / "run"
    commands = [
        ("train", "--data", folder, "--output", run, "--model", model, "--epochs", "1", "--max-seq-length", "16",
         "--batch-size", "8", "--mixed-precision", "float32", "--pooling", "mean"),
        ("evaluate", "--model", run, "--data", folder / "test.jsonl"),
        ("predict", "--model", run, "the movie was great"),
        ("export", "--model", run, "--output", folder / "export"),
        ("export-encoder", "--model", model, "--format", "hf", "--output", folder / "encoder"),
        ("report", run),
    ]
    for command in commands:
        proc = bertkit_cli(*command)
        assert proc.returncode == 0, (command[0], proc.stderr[-2000:])
        assert foreign_lines(proc.stderr) == [], command[0]
    assert foreign_lines(_serve_stderr(folder / "export")) == []


def test_help_prints_only_help():
    # `train --help` imports the tasks (and so TensorFlow) to list their options
    for command in (("--help",), ("train", "--help"), ("tune", "--help"), ("predict", "--help")):
        proc = bertkit_cli(*command)
        assert proc.returncode == 0, (command, proc.stderr[-2000:])
        assert "usage: bertkit" in proc.stdout, command
        assert proc.stderr == "", (command, proc.stderr[-2000:])


def _serve_stderr(export) -> str:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from bertkit.cli import main; sys.exit(main())",
                             "serve", "--model", str(export), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # "serving default at http://127.0.0.1:PORT/ ..." once it listens
        assert line.startswith("serving default at http://127.0.0.1:"), line
        time.sleep(0.5)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    return err


def test_verbose_shows_what_is_kept_back(workspace):
    folder, _ = workspace
    quiet = bertkit_cli("predict", "--model", folder / "run", "fine")
    loud = bertkit_cli("predict", "--model", folder / "run", "fine", "--verbose")
    assert quiet.returncode == loud.returncode == 0 and quiet.stdout == loud.stdout
    assert foreign_lines(quiet.stderr) == []
    assert foreign_lines(loud.stderr)  # TensorFlow's own start-up lines, e.g. the absl pre-init warning


def test_a_real_error_still_surfaces(tmp_path):
    proc = bertkit_cli("predict", "--model", tmp_path / "nope", "x")
    assert proc.returncode == 2 and proc.stderr.startswith("bertkit predict: error: ") and "nope" in proc.stderr


# Run in a process of its own: TensorFlow counts the traces of a method over every instance in the process,
# so the tasks built by earlier tests in a pytest process would add to this run's count.
NO_RETRACING = """
import json, logging, sys
import tensorflow as tf
import bertkit
from bertkit.core.quiet import RetracingFilter
from tests.conftest import tiny_rows

folder, model, output = sys.argv[1:4]

class RetracingFails(logging.Handler):
    def emit(self, record):
        if "triggered tf.function retracing" in record.getMessage():
            print("RETRACED: " + record.getMessage(), file=sys.stderr)
            sys.exit(3)

logger = tf.get_logger()
for f in [f for f in logger.filters if isinstance(f, RetracingFilter)]:
    logger.removeFilter(f)  # bertkit hides the warning across runs; within one run it must not happen at all
logger.addHandler(RetracingFails())
result = bertkit.train(data=folder, output=output, model=model, epochs=3, max_seq_length=16, batch_size=4,
                       mixed_precision="float32", pooling="mean", verbose=False)
for _ in range(3):
    result.model.evaluate(folder + "/test.jsonl")
    result.model.predict([r["text"] for r in tiny_rows(300, 2)], batch_size=8)  # several chunks
print(json.dumps({"traces": result.stats["traces"]}))
"""


def test_no_retracing_in_train_evaluate_predict(workspace, tmp_path):
    """The same run as a user's: one process trains with an evaluation per epoch, evaluates and predicts."""
    folder, model = workspace
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", NO_RETRACING, str(folder), str(model), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the train step: one trace for every batch length and the short last batch
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"traces": 1}


def test_retracing_counted_across_runs_is_kept_off_the_terminal():
    """TensorFlow counts traces of one method over every instance: the second model trained in a process
    would print its retracing warning; bertkit drops that one message and nothing else."""
    import tensorflow as tf

    import bertkit.tasks.runner  # noqa: F401  installs the filter

    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Collect()
    logger = tf.get_logger()
    logger.addHandler(handler)
    try:
        logger.warning("5 out of the last 11 calls to <bound method ClassifyTask.encode> triggered tf.function "
                       "retracing. Tracing is expensive")
        logger.warning("a real warning")
    finally:
        logger.removeHandler(handler)
    assert seen == ["a real warning"]
