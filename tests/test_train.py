"""End to end on a tiny random BERT: train, save the bundle, reload, predict and evaluate."""

import json

import numpy as np
import pytest

import bertkit
from bertkit.core.errors import BertkitError

TRAIN_KW = dict(max_seq_length=16, batch_size=8, epochs=8, learning_rate=2e-3, mixed_precision="float32",
                pooling="mean", verbose=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    from conftest import tiny_rows, write_jsonl

    folder = tmp_path_factory.mktemp("data")
    write_jsonl(folder / "train.jsonl", tiny_rows(48, 0))
    write_jsonl(folder / "test.jsonl", tiny_rows(16, 1))
    run = tmp_path_factory.mktemp("runs") / "run"
    result = bertkit.train(data=str(folder / "train.jsonl"), output=str(run), model=str(tiny_model_dir), **TRAIN_KW)
    return result, run, folder


def test_training_learns_the_tiny_task(trained):
    result, run, _ = trained
    assert result.metrics["n"] == 16
    assert result.metrics["accuracy"] >= 0.9  # separable by the words "great"/"loved" vs "awful"/"thin"
    first = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    epochs = [r for r in first if r["kind"] == "epoch"]
    assert len(epochs) == 8 and epochs[-1]["train_loss"] < epochs[0]["train_loss"]


def test_run_folder_layout(trained):
    _, run, _ = trained
    names = {p.name for p in (run / "model").iterdir()}
    assert {"bertkit.json", "encoder_config.json", "preprocess_config.json", "task_config.json",
            "train_config.json", "vocab.txt", "model.weights.h5", "metrics.json"} <= names
    assert json.loads((run / "metrics.json").read_text())["accuracy"] == pytest.approx(
        json.loads((run / "model" / "metrics.json").read_text())["accuracy"])
    task = json.loads((run / "model" / "task_config.json").read_text())
    assert task["labels"] == ["0", "1"] and task["label_type"] == "int"
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".")]  # no partial folders


def test_reload_gives_identical_predictions(trained):
    result, run, _ = trained
    texts = ["the movie was great", "plot is thin", "", "Ünïcödé … text that is long " * 20]
    before = result.model.predict_scores(texts)
    after = bertkit.load(run).predict_scores(texts)
    np.testing.assert_array_equal(before, after)
    rows = bertkit.load(run / "model").predict(texts[:2])
    assert [r["label"] for r in rows] == ["1", "0"]
    assert set(rows[0]["probabilities"]) == {"0", "1"}


def test_reload_in_bfloat16_is_close_and_leaves_the_global_policy(trained):
    import keras

    _, run, _ = trained
    texts = ["the movie was great", "plot is thin", "Ünïcödé … text that is long " * 20]
    exact = bertkit.load(run, mixed_precision="float32")
    fast = bertkit.load(run, mixed_precision="mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"
    assert all(v.dtype == "float32" for v in fast.model.weights)  # float32 weights, bf16 compute
    a, b = exact.predict_scores(texts), fast.predict_scores(texts)
    assert b.dtype == a.dtype and not np.array_equal(a, b)  # bf16 really ran
    np.testing.assert_allclose(b, a, atol=0.03)  # bf16 keeps ~3 significant digits per matmul


def test_training_in_bfloat16_leaves_the_global_policy(tmp_path, tiny_model_dir):
    import keras

    from conftest import tiny_rows, write_jsonl

    data = write_jsonl(tmp_path / "train.jsonl", tiny_rows(16, 0))
    result = bertkit.train(data=str(data), model=str(tiny_model_dir),
                           **{**TRAIN_KW, "epochs": 1, "mixed_precision": "mixed_bfloat16"})
    assert keras.mixed_precision.global_policy().name == "float32"
    # The model keeps computing in the policy it was built under.
    assert {layer.compute_dtype for layer in result.model.model.encoder.layers} >= {"bfloat16"}


def test_evaluate_matches_training_metrics(trained):
    result, run, folder = trained
    metrics = bertkit.load(run).evaluate(str(folder / "test.jsonl"))
    assert metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert metrics["auc"] == pytest.approx(result.metrics["auc"])


def test_unknown_label_at_evaluation_names_the_line(trained, tmp_path):
    _, run, _ = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "great", "label": 1}\n{"text": "awful", "label": 7}\n')
    with pytest.raises(BertkitError, match=r"bad.jsonl:2.*label 7"):
        bertkit.load(run).evaluate(str(bad))


def test_wrong_model_folder_is_explained(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(BertkitError, match="not a bertkit model folder"):
        bertkit.load(tmp_path)
    with pytest.raises(BertkitError, match="no such model folder"):
        bertkit.load(tmp_path / "missing")


def test_same_seed_same_metrics(tiny_data, tiny_model_dir):
    kw = dict(data=str(tiny_data), model=str(tiny_model_dir), **{**TRAIN_KW, "epochs": 1})
    a = bertkit.train(**kw)
    b = bertkit.train(**kw)
    np.testing.assert_array_equal(a.model.predict_scores(["great plot"]), b.model.predict_scores(["great plot"]))
