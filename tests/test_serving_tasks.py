"""`bertkit serve` on NER and QA run folders, each through its SavedModel export: answers equal
`bertkit predict`, and the page highlights entities and answers in a real Chromium."""

import contextlib
import http.client
import json

import pytest

import bertkit
from bertkit.serving.config import ServeConfig
from bertkit.serving.server import start_server
from tests.test_tasks_train import TRAIN_KW, conll_sentences, qa_rows

SENTENCES = ["i loved the movie bob", "new york was great but tom was bored", "the plot is thin"]


@pytest.fixture(scope="module")
def ner_server(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("conll")
    (folder / "train.conll").write_text(conll_sentences(48, 0))
    (folder / "test.conll").write_text(conll_sentences(12, 1))
    run = tmp_path_factory.mktemp("ner") / "run"
    bertkit.train(data=str(folder), output=str(run), model=str(tiny_model_dir), task="ner", epochs=8, **TRAIN_KW)
    with start_server(run, ServeConfig(port=0)) as running:
        yield running, bertkit.load(run)


@pytest.fixture(scope="module")
def qa_server(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("squad")
    (folder / "train.json").write_text(json.dumps(qa_rows(24, 0)))
    (folder / "dev.json").write_text(json.dumps(qa_rows(6, 1)))
    run = tmp_path_factory.mktemp("qa") / "run"
    bertkit.train(data=str(folder), output=str(run), model=str(tiny_model_dir), task="qa", epochs=3,
                  task_options={"max_query_length": 8, "doc_stride": 8},
                  **{**TRAIN_KW, "max_seq_length": 32})
    with start_server(run, ServeConfig(port=0)) as running:
        yield running, bertkit.load(run)


def call(server, method, path, body=None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body))
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _entities(row):
    """The entities of one row of an exported NER model's answer (padded columns)."""
    return [{"text": t, "type": k, "start": a, "end": b}
            for t, k, a, b in zip(row["entity_text"], row["entity_type"], row["entity_start"], row["entity_end"])
            if a >= 0]


def test_ner_run_folder_is_served_as_its_export(ner_server):
    """A NER run folder is exported and served like a classifier: TF Serving's tensors, equal to predict."""
    server, model = ner_server
    status, body = call(server, "POST", "/v1/models/default:predict", {"instances": SENTENCES})
    assert status == 200
    want = model.predict(SENTENCES)
    strip = lambda entities: [{k: e[k] for k in ("text", "type", "start", "end")} for e in entities]  # noqa: E731
    assert [_entities(p) for p in body["predictions"]] == [strip(w["entities"]) for w in want]
    assert [[t for t in p["tags"] if t] for p in body["predictions"]] == [w["tags"] for w in want]
    assert any(w["entities"] for w in want)  # the tiny model did learn names and places
    status, columns = call(server, "POST", "/v1/models/default:predict", {"inputs": {"text": SENTENCES[:2]}})
    assert status == 200
    rows = [{k: v[i] for k, v in columns["outputs"].items()} for i in range(2)]
    assert [_entities(r) for r in rows] == [strip(w["entities"]) for w in want[:2]]
    status, info = call(server, "GET", "/bertkit/model")
    assert info["task"] == "ner" and info["inputs"] == ["text"] and info["entity_types"] == ["LOC", "PER"]
    status, meta = call(server, "GET", "/v1/models/default/metadata")
    outputs = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"]
    assert status == 200 and {"entity_text", "entity_start", "tags"} <= set(outputs)


def test_qa_rest_answers_equal_predict_and_bad_input_is_400(qa_server):
    server, model = qa_server
    pairs = [("who loved it ?", "tom loved the movie . it was in oslo but the plot was thin ."),
             ("where was it ?", "ann loved the movie . it was in rome but the plot was thin .")]
    status, body = call(server, "POST", "/v1/models/default:predict",
                        {"instances": [{"question": q, "context": c} for q, c in pairs]})
    assert status == 200
    for got, want in zip(body["predictions"], model.predict(pairs)):
        assert (got["answer"], got["start"], got["end"]) == (want["answer"], want["start"], want["end"])
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
        assert [a["text"] for a in want["n_best"]] == got["n_best_text"][:len(want["n_best"])]
    status, body = call(server, "POST", "/v1/models/default:predict",
                        {"instances": [{"question": "who?", "context": "  "}]})
    assert status == 200 and body["predictions"][0]["answer"] == "" and body["predictions"][0]["probability"] == 1.0
    status, meta = call(server, "GET", "/v1/models/default/metadata")
    outputs = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"]
    assert {"answer", "start", "end", "n_best_text"} <= set(outputs)
    status, body = call(server, "POST", "/v1/models/default:predict", {"instances": ["just a text"]})
    assert status == 400
    assert call(server, "GET", "/v1/models/default")[0] == 200  # still serving


@contextlib.contextmanager
def typed_page(server, fields):
    """The server's page in Chromium with `fields` ({element id: text}) typed in and Predict clicked;
    skips without Chromium."""
    from cdp_pipe import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium on PATH; scripts/install_chromium.sh (run by `make install`) installs it")
    with Browser() as browser:
        page = browser.open(server.url + "/")
        page.wait_for("document.getElementById('endpoint').textContent")
        for element, text in fields.items():
            page.evaluate(f"document.getElementById('{element}').focus()")
            page.type(text)
        page.click("#predict")
        yield page


def test_ner_page_highlights_entities_in_chromium(ner_server):
    server, model = ner_server
    text = SENTENCES[1]
    want = [(e["text"], e["type"]) for e in model.predict([text])[0]["entities"]]
    assert want  # something to highlight
    marks = ("document.getElementById('marked').hidden ? null : [...document.querySelectorAll('#marked mark')]"
             ".map(m => [m.firstChild.textContent, m.className])")
    with typed_page(server, {"text": text}) as page:
        assert [tuple(m) for m in page.wait_for(marks)] == want
        assert page.evaluate("document.getElementById('text-label').textContent") == "Text"
        assert page.evaluate("document.getElementById('marked').textContent").startswith(text.split()[0])


def test_qa_page_marks_the_answer_in_chromium(qa_server):
    server, model = qa_server
    question, context = "where was it ?", "tom loved the movie . it was in oslo but the plot was thin ."
    want = model.predict([(question, context)])[0]
    assert want["answer"]
    marks = ("document.getElementById('marked').hidden ? null : "
             "[...document.querySelectorAll('#marked mark')].map(m => m.textContent)")
    with typed_page(server, {"text": question, "text_b": context}) as page:
        assert page.wait_for(marks) == [want["answer"]]
        assert page.evaluate("document.getElementById('text-label').textContent") == "Question"
        assert page.evaluate("document.getElementById('label').textContent") == want["answer"]
