"""Export and serving: the raw-text SavedModel, the TF Serving REST API, and the page in Chromium.

One tiny classifier (hidden 32, 2 layers) with the real bert-base-uncased vocabulary of the packaged
MiniLM, so real IMDB reviews tokenize as they do in training (and long ones are truncated).
"""

import http.client
import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import bertkit
from bertkit import cli
from bertkit.core.errors import BertkitError
from bertkit.serving import rest
from bertkit.serving.request_batcher import Batcher
from bertkit.export.savedmodel import EXPORT_INFO, EXTRA, export_model
from bertkit.serving.config import ServeConfig
from bertkit.serving.server import start_server

NON_ASCII = "Ça m'a plu — 素晴らしい 🎬"
FRESH_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # registers the WordPiece ops; bertkit is not imported
    export_dir, texts_file, out_file = sys.argv[1:]
    texts = json.load(open(texts_file, encoding="utf-8"))
    out = tf.saved_model.load(export_dir).signatures["serving_default"](text=tf.constant(texts))
    json.dump({"probabilities": out["probabilities"].numpy().tolist(),
               "label": [x.decode("utf-8") for x in out["label"].numpy()],
               "bertkit_imported": any(m.split(".")[0] == "bertkit" for m in sys.modules)},
              open(out_file, "w"))
""")


@pytest.fixture(scope="module")
def real_vocab() -> Path:
    from bertkit.weights import default_model_path

    return Path(default_model_path()) / "vocab.txt"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, real_vocab) -> Path:
    """A tiny classifier with the bert-base-uncased vocabulary, trained one epoch on tiny data."""
    import keras

    from bertkit.core.config import EncoderConfig
    from bertkit.modeling.encoder import BertEncoder
    from bertkit.weights import save_hf
    from conftest import tiny_rows, write_jsonl

    root = tmp_path_factory.mktemp("serving")
    keras.utils.set_random_seed(0)
    vocab_size = len(real_vocab.read_text(encoding="utf-8").splitlines())
    encoder = BertEncoder(EncoderConfig(vocab_size=vocab_size, hidden_size=32, num_layers=2, num_heads=4,
                                        intermediate_size=64, max_position_embeddings=64))
    save_hf(encoder, str(real_vocab), True, str(root / "hf"))
    write_jsonl(root / "train.jsonl", tiny_rows(48, 0))
    bertkit.train(data=str(root / "train.jsonl"), output=str(root / "run"), model=str(root / "hf"),
                  max_seq_length=32, batch_size=8, epochs=1, learning_rate=2e-3, mixed_precision="float32",
                  pooling="mean", verbose=False)
    return root / "run"


@pytest.fixture(scope="module")
def model(run_dir):
    return bertkit.load(run_dir)


@pytest.fixture(scope="module")
def export_dir(run_dir, tmp_path_factory) -> Path:
    """Exported with the CLI from a copy of the run folder, which is then deleted."""
    root = tmp_path_factory.mktemp("export")
    shutil.copytree(run_dir, root / "run_copy")
    assert cli.main(["export", "--model", str(root / "run_copy"), "--output", str(root / "export"),
                     "--no-verify"]) == 0  # the fresh-process test below checks it more strictly
    shutil.rmtree(root / "run_copy")  # the export must not need the run folder
    return root / "export"


@pytest.fixture(scope="module")
def imdb_texts(real_data_dir) -> list[str]:
    rows = [json.loads(line) for line in (real_data_dir / "imdb" / "test.jsonl").open(encoding="utf-8")][:500]
    texts = [r["text"] for r in rows[:24]]
    return texts + [max((r["text"] for r in rows), key=len), "", "   ", NON_ASCII, "<br /><br />Great. " * 3]


@pytest.fixture(scope="module")
def server(export_dir):
    config = ServeConfig(port=0, max_body_bytes=2_000_000, max_instances=1000, max_text_bytes=100_000)
    with start_server(export_dir, config) as running:
        yield running


def request(server, method: str, path: str, body=None, headers=None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def predict(server, payload):
    return request(server, "POST", "/v1/models/default:predict", json.dumps(payload))


# ---- export -------------------------------------------------------------------------------------

def test_export_is_self_contained(export_dir, run_dir):
    assert (export_dir / "saved_model.pb").exists()
    assert (export_dir / "assets" / "vocab.txt").read_bytes() == (run_dir / "model" / "vocab.txt").read_bytes()
    info = json.loads((export_dir / EXTRA / EXPORT_INFO).read_text())
    assert info["task"] == "classify" and info["inputs"] == ["text"] and info["labels"] == ["0", "1"]
    assert info["preprocess"]["max_seq_length"] == 32 and info["preprocess"]["do_lower_case"] is True
    assert (export_dir / EXTRA / "task_config.json").exists()
    assert not [p for p in export_dir.parent.iterdir() if p.name.startswith(".")]  # no partial folders


def test_fresh_process_matches_predict_on_real_reviews(export_dir, model, imdb_texts, tmp_path):
    """Plain TensorFlow in a new process, bertkit never imported, equals `bertkit predict` to 1e-5."""
    (tmp_path / "fresh.py").write_text(FRESH_SCRIPT)
    (tmp_path / "texts.json").write_text(json.dumps(imdb_texts), encoding="utf-8")
    subprocess.run([sys.executable, str(tmp_path / "fresh.py"), str(export_dir), str(tmp_path / "texts.json"),
                    str(tmp_path / "out.json")], check=True, timeout=300, cwd=tmp_path)
    got = json.loads((tmp_path / "out.json").read_text())
    expected = model.predict_scores(imdb_texts)  # what `bertkit predict` prints, unrounded
    assert not got["bertkit_imported"]
    assert max(len(t) for t in imdb_texts) > 3000  # a long review, truncated head+tail to 32 tokens
    assert np.abs(np.asarray(got["probabilities"]) - expected).max() <= 1e-5
    assert got["label"] == [model.labels[i] for i in expected.argmax(1)]


def _random_head_model(base, real_vocab, task_name: str, labels: tuple, is_pair: bool, extra: dict):
    """A model of `task_name` with a fresh (random) head on the trained tiny encoder."""
    import tensorflow as tf

    from bertkit.api import BertkitModel
    from bertkit.core.config import PreprocessConfig, TaskConfig
    from bertkit.tasks import get_task_class

    config = TaskConfig(task=task_name, labels=labels, pooling="mean", is_pair=is_pair, extra=extra)
    task = get_task_class(task_name)(config, PreprocessConfig(max_seq_length=24), base.task.tokenizer)
    keras_model = task.build_model(base.model.encoder)
    keras_model({k: tf.zeros((1, 8), tf.int32) for k in ("input_word_ids", "input_mask", "input_type_ids")})
    return BertkitModel(keras_model, task, base.encoder_config, None)


PAIRS = [("A man plays.", "Nobody plays."), ("", NON_ASCII), ("long " * 50, "short")]


@pytest.mark.parametrize("extra", [{}, {"symmetric": "on"}])
def test_pair_softmax_export_matches_the_model(model, real_vocab, tmp_path, extra):
    """A 3-label sentence-pair classifier (softmax head) exports `text` + `text_b` inputs; a symmetric
    one gives both orders of a pair the same probabilities, in the export too."""
    import tensorflow as tf

    labels = ("contradiction", "entailment", "neutral")
    pair_model = _random_head_model(model, real_vocab, "classify", labels, True, extra)
    swapped = pair_model.predict_scores([(b, a) for a, b in PAIRS])
    same_both_ways = np.allclose(swapped, pair_model.predict_scores(PAIRS), atol=1e-6)
    assert same_both_ways == bool(extra)
    export_model(pair_model, tmp_path / "pair")  # verify=True: reloads and compares with predict_scores
    fn = tf.saved_model.load(str(tmp_path / "pair")).signatures["serving_default"]
    assert sorted(fn.structured_input_signature[1]) == ["text", "text_b"]
    out = fn(text=tf.constant([a for a, _ in PAIRS]), text_b=tf.constant([b for _, b in PAIRS]))
    expected = pair_model.predict_scores(PAIRS)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    assert [x.decode() for x in out["label"].numpy()] == [labels[i] for i in expected.argmax(1)]


@pytest.mark.parametrize("task_name, labels, extra, is_pair", [
    ("multilabel", ("LOC", "ORG", "PER"), {"threshold": 0.5}, False),
    ("regression", (), {"target_mean": 3.0, "target_std": 1.5}, True),
])
def test_multilabel_and_regression_signatures_match_the_model(model, real_vocab, task_name, labels, extra,
                                                               is_pair):
    """The signature functions of the other sentence tasks, traced (the SavedModel path is shared)."""
    import tensorflow as tf

    task_model = _random_head_model(model, real_vocab, task_name, labels, is_pair, extra)
    signature = task_model.task.serving_signature()
    assert signature.inputs == (("text", "text_b") if is_pair else ("text",))
    inputs = PAIRS if is_pair else [a for a, _ in PAIRS]
    columns = dict(zip(signature.inputs, [tf.constant(c) for c in zip(*PAIRS)]))
    out = tf.function(task_model.runner.serving_function())(**columns)
    assert sorted(out) == sorted(signature.outputs)
    expected = task_model.predict_scores(inputs)
    np.testing.assert_allclose(out["probabilities" if task_name == "multilabel" else "score"].numpy(), expected,
                               atol=1e-5)
    if task_name == "multilabel":
        chosen = ["|".join(n for n, p in zip(labels, row) if p > 0.5) for row in expected]
        assert [x.decode() for x in out["labels"].numpy()] == chosen


def test_export_errors_are_clear(run_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(BertkitError, match="not a bertkit export"):
        export_model(run_dir, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


# ---- REST parsing (no model) --------------------------------------------------------------------

LIMITS = rest.Limits(max_body_bytes=1000, max_instances=3, max_text_bytes=10)


@pytest.mark.parametrize("payload, names, columns, row_format", [
    ({"instances": ["a", {"b64": "Yg=="}, {"text": "c"}]}, ("text",), {"text": [b"a", b"b", b"c"]}, True),
    ({"inputs": ["a", "b"]}, ("text",), {"text": [b"a", b"b"]}, False),
    ({"inputs": {"text": ["a"]}, "signature_name": "serving_default"}, ("text",), {"text": [b"a"]}, False),
    ({"instances": [{"text": "a", "text_b": "b"}]}, ("text", "text_b"), {"text": [b"a"], "text_b": [b"b"]}, True),
    ({"inputs": {"text": ["a"], "text_b": ["é"]}}, ("text", "text_b"),
     {"text": [b"a"], "text_b": ["é".encode()]}, False),
])
def test_parse_predict_accepts_tf_serving_shapes(payload, names, columns, row_format):
    request_ = rest.parse_predict(json.dumps(payload).encode(), names, LIMITS)
    assert request_.columns == columns and request_.row_format is row_format
    assert request_.n == len(columns["text"])


@pytest.mark.parametrize("body, match", [
    (b"{not json", "JSON parse error"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nesting too deep|JSON parse error"),
    (b'["a"]', "must be a JSON object"),
    (b'{"instance": ["a"]}', r"unknown key\(s\) \['instance'\]"),
    (b'{"instances": ["a"], "inputs": ["a"]}', "exactly one of"),
    (b'{"signature_name": "other", "instances": ["a"]}', "not found in signature def"),
    (b'{"instances": "a"}', "'instances' must be a list, got a string"),
    (b'{"instances": [1]}', "instance 0 must be a string"),
    (b'{"instances": [null]}', "got null"),
    (b'{"instances": [["a"]]}', "got a list"),
    (b'{"instances": [{"txt": "a"}]}', r"missing \['text'\], unknown \['txt'\]"),
    (b'{"instances": [{"b64": "%%%"}]}', "not valid base64"),
    (b'{"inputs": "a"}', "must be a list of strings"),
    (b'{"inputs": {"text": [true]}}', "got a boolean"),
    (b'{"instances": []}', "no instances"),
    (b'{"instances": ["a", "b", "c", "d"]}', "4 instances; the limit is 3"),
    (b'{"instances": ["0123456789x"]}', "11 bytes of UTF-8; the limit is 10"),
])
def test_parse_predict_rejects_bad_requests(body, match):
    with pytest.raises(rest.RequestError, match=match) as info:
        rest.parse_predict(body, ("text",), LIMITS)
    assert info.value.status == 400


def test_parse_predict_pairs_need_both_texts():
    with pytest.raises(rest.RequestError, match=r"takes \['text', 'text_b'\]"):
        rest.parse_predict(b'{"instances": ["a"]}', ("text", "text_b"), LIMITS)
    with pytest.raises(rest.RequestError, match="different lengths"):
        rest.parse_predict(b'{"inputs": {"text": ["a"], "text_b": ["a", "b"]}}', ("text", "text_b"), LIMITS)


def test_format_predict_rows_and_columns():
    outputs = {"probabilities": np.array([[0.25, 0.75]], np.float32), "label": np.array([b"pos"], object)}
    assert rest.format_predict(outputs, row_format=True) == {
        "predictions": [{"probabilities": [0.25, 0.75], "label": "pos"}]}
    assert rest.format_predict(outputs, row_format=False) == {
        "outputs": {"probabilities": [[0.25, 0.75]], "label": ["pos"]}}
    assert rest.format_predict({"label": np.array([b"\xff"], object)}, True) == {"predictions": [{"b64": "/w=="}]}


# ---- batching (no model) ------------------------------------------------------------------------

def test_batcher_merges_concurrent_requests_and_splits_large_ones():
    calls = []

    def run(columns):
        calls.append(len(columns["x"]))
        time.sleep(0.05)  # a slow model: requests arriving meanwhile wait for the next call
        return {"y": np.asarray(columns["x"]) * 2}

    batcher = Batcher(run, max_batch_size=8, timeout_s=0.005)
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, batcher.submit({"x": [i]}, 1)))
               for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i]["y"].tolist() == [2 * i] for i in range(12))
    assert len(calls) < 12 and max(calls) <= 8  # merged, and no call above the bound
    big = batcher.submit({"x": list(range(20))}, 20)
    assert big["y"].tolist() == [2 * i for i in range(20)] and calls[-3:] == [8, 8, 4]
    batcher.close()


def test_batcher_survives_a_failing_call():
    def run(columns):
        if "boom" in columns["x"]:
            raise ValueError("boom")
        return {"y": np.asarray(columns["x"])}

    batcher = Batcher(run, max_batch_size=4, timeout_s=0.0)
    with pytest.raises(ValueError, match="boom"):
        batcher.submit({"x": ["boom"]}, 1)
    assert batcher.submit({"x": ["ok"]}, 1)["y"].tolist() == ["ok"]
    batcher.close()


# ---- the server ---------------------------------------------------------------------------------

def test_status_and_metadata_have_tf_serving_shapes(server):
    assert server.host == "127.0.0.1"  # loopback unless told otherwise
    assert request(server, "GET", "/v1/models/default") == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    status, meta = request(server, "GET", "/v1/models/default/versions/1/metadata")
    assert status == 200 and meta["model_spec"] == {"name": "default", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["text"]["dtype"] == "DT_STRING"
    assert signature["inputs"]["text"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert signature["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    assert signature["outputs"]["label"]["dtype"] == "DT_STRING"
    assert request(server, "GET", "/v1/models/other")[0] == 404


def test_predict_matches_the_model(server, model, imdb_texts):
    texts = imdb_texts[:6] + ["", NON_ASCII]
    expected = model.predict_scores(texts)
    status, rows = predict(server, {"instances": texts})
    assert status == 200
    np.testing.assert_allclose([r["probabilities"] for r in rows["predictions"]], expected, atol=1e-5)
    assert [r["label"] for r in rows["predictions"]] == [model.labels[i] for i in expected.argmax(1)]
    status, cols = predict(server, {"inputs": {"text": texts}})
    assert status == 200 and cols["outputs"]["label"] == [r["label"] for r in rows["predictions"]]
    np.testing.assert_allclose(cols["outputs"]["probabilities"], expected, atol=1e-5)


@pytest.mark.parametrize("body, headers, status, match", [
    (b"{oops", {}, 400, "JSON parse error"),
    (json.dumps({"examples": ["a"]}).encode(), {}, 400, "unknown key"),
    (json.dumps({"instances": [{"text": 5}]}).encode(), {}, 400, "must be a string"),
    (json.dumps({"inputs": {"text": "a"}}).encode(), {}, 400, "must be a list"),
    (json.dumps({"instances": ["great"] * 5000}).encode(), {}, 400, "5000 instances"),
    (json.dumps({"instances": ["x" * 1_000_000]}).encode(), {}, 400, "1000000 bytes"),
    (json.dumps({"instances": ["y" * 3_000_000]}).encode(), {}, 400, "exceeds the limit of 2000000 bytes"),
    (b"x" * 100, {"Content-Length": "-1"}, 400, "Content-Length"),
])
def test_bad_requests_get_400_and_the_server_keeps_serving(server, body, headers, status, match):
    got_status, got = request(server, "POST", "/v1/models/default:predict", body, headers)
    assert got_status == status and set(got) == {"error"} and match in got["error"]
    assert predict(server, {"instances": ["still here"]})[0] == 200


def test_wrong_urls_and_methods_answer_json_errors(server):
    assert request(server, "POST", "/v1/models/default:classify", b"{}")[0] == 400
    status, body = request(server, "POST", "/v1/models/nope:predict", b'{"instances": ["a"]}')
    assert status == 404 and "Servable not found" in body["error"]
    assert request(server, "GET", "/v2/whatever")[0] == 404
    status, body = request(server, "DELETE", "/v1/models/default")
    assert status == 501 and "error" in body
    assert predict(server, {"instances": ["fine"]})[0] == 200


def test_concurrent_clients_are_batched(server, model):
    texts = [f"the movie was great {i}" for i in range(24)]
    expected = model.predict_scores(texts)
    before = server.stats
    answers = {}
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, predict(server, {"instances": [texts[i]]})))
               for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(answers[i][0] == 200 for i in range(len(texts)))
    got = [answers[i][1]["predictions"][0]["probabilities"] for i in range(len(texts))]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    after = server.stats
    assert after["requests"] - before["requests"] == len(texts)
    assert after["model_calls"] - before["model_calls"] < len(texts)  # some requests shared a model call


def test_serve_cli_explains_a_wrong_folder(tmp_path, capsys):
    assert cli.main(["serve", "--model", str(tmp_path), "--port", "0"]) == 2
    assert "neither a `bertkit export` folder" in capsys.readouterr().err


# ---- the page, in a real headless Chromium ------------------------------------------------------

def test_page_in_headless_chromium(server):
    from cdp_pipe import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium on PATH; scripts/install_chromium.sh (run by `make install`) installs it")
    typed, pasted = "the movie was great", "The acting was a bit lacking"
    expected = {text: predict(server, {"instances": [text]})[1]["predictions"][0] for text in (typed, pasted)}
    read = ("document.getElementById('result').hidden ? null : [document.getElementById('label').textContent, "
            "document.getElementById('probability').textContent]")
    with Browser() as browser:
        page = browser.open(server.url + "/")
        page.wait_for("document.getElementById('endpoint').textContent")
        page.evaluate("document.getElementById('text').focus()")
        page.type(typed)
        assert page.evaluate("document.getElementById('text').value") == typed
        page.click("#predict")
        label, probability = page.wait_for(read)
        _check_shown(expected[typed], label, probability)
        page.evaluate("document.getElementById('result').hidden = true; document.getElementById('text').select()")
        page.paste(pasted)  # replaces the selection, as a paste does
        assert page.evaluate("document.getElementById('text').value") == pasted
        page.press("Enter", 13, modifiers=2)  # Ctrl+Enter
        _check_shown(expected[pasted], *page.wait_for(read))
        origins = page.evaluate("[...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).origin))]")
        assert origins == [server.url]  # everything from the server: no external fetches


def _check_shown(prediction, label, probability):
    assert label == prediction["label"]
    p = prediction["probabilities"][["0", "1"].index(label)]
    assert probability.endswith("%") and abs(float(probability[:-1]) - 100 * p) <= 0.05 + 1e-9
