"""The CLI, called in-process: exit codes, output, and error messages without tracebacks."""

import json

import pytest

from bertkit.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    from conftest import tiny_rows, write_jsonl

    folder = tmp_path_factory.mktemp("cli_data")
    write_jsonl(folder / "train.jsonl", tiny_rows(32, 0))
    write_jsonl(folder / "dev.jsonl", tiny_rows(8, 1))
    out = tmp_path_factory.mktemp("cli_runs") / "run"
    assert main(["train", "--data", str(folder), "--output", str(out), "--model", str(tiny_model_dir), "--pooling", "mean",
                 "--max-seq-length", "16", "--batch-size", "8", "--epochs", "1", "--learning-rate", "1e-3",
                 "--mixed-precision", "float32", "--quiet"]) == 0
    return out, folder


def test_train_prints_metrics_and_saves(run_dir):
    out, _ = run_dir
    assert (out / "model" / "model.weights.h5").exists()
    assert json.loads((out / "metrics.json").read_text())["n"] == 8  # dev.jsonl was found by name


def test_predict_prints_json_lines(run_dir, capsys):
    out, _ = run_dir
    code, stdout, _ = run(capsys, "predict", "--model", str(out), "the movie was great", "plot is thin")
    assert code == 0
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert [r["text"] for r in rows] == ["the movie was great", "plot is thin"]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-6 for r in rows)


def test_predict_from_txt_file(run_dir, capsys, tmp_path):
    out, _ = run_dir
    (tmp_path / "in.txt").write_text("great plot\n\nawful plot\n   \n")
    code, stdout, _ = run(capsys, "predict", "--model", str(out), "--input", str(tmp_path / "in.txt"))
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0 and [r["text"] for r in rows] == ["great plot", "", "awful plot", "   "]  # line N answers line N
    assert all(r["label"] in ("0", "1") for r in rows)  # a blank line is predicted as an empty text


def test_evaluate_writes_json(run_dir, capsys, tmp_path):
    out, folder = run_dir
    code, stdout, _ = run(capsys, "evaluate", "--model", str(out), "--data", str(folder / "dev.jsonl"),
                          "--output-json", str(tmp_path / "m.json"))
    assert code == 0 and "accuracy" in stdout
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"accuracy", "precision", "recall", "f1", "auc", "mcc", "n"} <= set(metrics)


@pytest.mark.parametrize("content,match", [
    ('{"text": "ok", "label": 1}\n{"text": "broken, "label": 0}\n', r"train.jsonl:2"),
    ('{"text": "", "label": 1}\n', r"train.jsonl:1.*empty"),
    (b'{"text": "caf\xe9", "label": 1}\n', r"train.jsonl.*UTF-8"),
])
def test_bad_training_file_is_one_clear_error(capsys, tmp_path, tiny_model_dir, content, match):
    path = tmp_path / "train.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, _, err = run(capsys, "train", "--data", str(path), "--output", str(tmp_path / "run"),
                       "--model", str(tiny_model_dir), "--quiet")
    assert code == 2
    assert "Traceback" not in err
    import re

    assert re.search(match, err, re.S | re.I), err
    assert not (tmp_path / "run" / "model").exists()


def test_missing_paths(capsys, tmp_path, tiny_model_dir):
    code, _, err = run(capsys, "predict", "--model", str(tmp_path / "nope"), "hello")
    assert code == 2 and "no such model folder" in err
    code, _, err = run(capsys, "train", "--data", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "r"),
                       "--model", str(tiny_model_dir), "--quiet")
    assert code == 2 and "none.jsonl" in err
    code, _, err = run(capsys, "train", "--data", str(tmp_path), "--output", str(tmp_path / "r"),
                       "--model", str(tmp_path), "--quiet")
    assert code == 2 and "Traceback" not in err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("bertkit ")
