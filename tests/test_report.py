"""The run report: built from a tiny run, from damaged run folders, and opened in headless Chromium."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import bertkit
from bertkit.cli import main
from bertkit.metrics import classification_metrics, roc_auc
from bertkit.report import PREDICTIONS_FILE, build_report
from bertkit.tasks.classify.report import pr_points, reliability, roc_points
from bertkit.tasks.classify.report import confident_rows
from bertkit.report.html import CSP, Section, render_page
from bertkit.report.runinfo import last_run, read_history, read_run
from bertkit.report.summary import finish_run

pytest.importorskip("matplotlib")

ALL_FIGURES = {"curve_loss.png", "curve_learning_rate.png", "curve_eval.png", "token_lengths.png",
               "confusion_matrix.png", "roc_pr_curves.png", "calibration.png", "per_class.png"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_dir):
    """A 2-epoch run on tiny data with max_seq_length 8, so that some test texts are truncated."""
    from conftest import tiny_rows, write_jsonl

    folder = tmp_path_factory.mktemp("report_data")
    write_jsonl(folder / "train.jsonl", tiny_rows(48, 0))
    write_jsonl(folder / "test.jsonl", tiny_rows(40, 1))
    run = tmp_path_factory.mktemp("report_runs") / "run"
    result = bertkit.train(data=str(folder / "train.jsonl"), output=str(run), model=str(tiny_model_dir),
                           max_seq_length=8, batch_size=8, epochs=2, learning_rate=2e-3, mixed_precision="float32",
                           pooling="mean", verbose=False)
    return result, run, folder


@pytest.fixture(scope="module")
def finished(tiny_run) -> str:
    """What `bertkit train` prints at the end: it builds the default report of the tiny run (tests that
    build other reports do so in a copy of the run)."""
    return finish_run(tiny_run[0])


@pytest.fixture(scope="module")
def built(tiny_run, finished) -> Path:
    return tiny_run[1] / "report" / "index.html"


def summary(index: Path) -> dict:
    return json.loads((index.parent / "summary.json").read_text())


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("report", "tensorboard"))
    return dest


def test_report_from_a_tiny_run(tiny_run, built):
    result, run, folder = tiny_run
    index = built
    assert index.is_file() and not [p for p in run.iterdir() if p.name.startswith(".")]  # no partial folders
    info = summary(index)
    assert info["missing"] == [] and info["task"] == "classify"
    assert set(info["figures"]) == ALL_FIGURES
    for name in ALL_FIGURES:
        data = (run / "report" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    page = index.read_text()
    assert page.count('<img src="data:image/png;base64,') == len(ALL_FIGURES)
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert str(folder / "test.jsonl") in page  # says which data it analysed
    for heading in ("Most confident mistakes", "Least confident correct predictions", "share truncated"):
        assert heading in page


def test_saved_predictions_are_the_final_evaluation(tiny_run):
    result, run, folder = tiny_run
    with np.load(run / PREDICTIONS_FILE) as z:
        scores, gold, guids = z["scores"], z["gold"], list(z["guids"])
    assert scores.shape == (40, 2) and guids[0] == f"{folder / 'test.jsonl'}:1"
    metrics = classification_metrics(gold, scores, labels=["0", "1"])
    assert metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert metrics["auc"] == pytest.approx(result.metrics["auc"])
    start = json.loads((run / "history.jsonl").read_text().splitlines()[0])
    assert start["kind"] == "start" and start["test_data"] == str(folder / "test.jsonl")
    assert start["main_metric"] == "accuracy"


def test_truncation_share_matches_the_tokenizer(tiny_run, built):
    _, run, folder = tiny_run
    from bertkit.data import read_examples
    from bertkit.report.lengths import token_lengths
    from bertkit.tokenization.wordpiece import Tokenizer

    tokenizer = Tokenizer(run / "model" / "vocab.txt", True)
    examples = read_examples(folder / "test.jsonl")
    lengths = token_lengths(tokenizer, examples)
    assert list(lengths) == [len(tokenizer.tokenize(e.text_a)) + 2 for e in examples]
    share = float(np.mean(lengths > 8))
    assert 0 < share < 1  # the fixture's texts straddle max_seq_length 8
    assert f'<td class="num">{share:.4f}</td>' in built.read_text()  # the report's "share truncated"


def test_missing_history_is_reported_and_the_rest_is_built(tiny_run, tmp_path):
    _, run, _ = tiny_run
    run2 = copy_run(run, tmp_path / "run")
    (run2 / "history.jsonl").unlink()
    info = summary(build_report(run2))
    assert any("history.jsonl not found: no training curves" in m for m in info["missing"])
    # The history also named the test file; without it the texts are unknown, the predictions are not.
    assert any("not available" in m and "ids instead of texts" in m for m in info["missing"])
    assert {"confusion_matrix.png", "roc_pr_curves.png", "calibration.png"} <= set(info["figures"])
    assert not {"curve_loss.png", "token_lengths.png"} & set(info["figures"])


def test_truncated_last_line_of_a_killed_run(tiny_run, tmp_path):
    _, run, _ = tiny_run
    run2 = copy_run(run, tmp_path / "run")
    lines = (run2 / "history.jsonl").read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["kind"] == "epoch"
    (run2 / "history.jsonl").write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    info = summary(build_report(run2))
    assert any("last line" in m and "truncated" in m for m in info["missing"])
    assert ALL_FIGURES == set(info["figures"])  # one epoch record left: curves still drawn
    page = (run2 / "report" / "index.html").read_text()
    assert "What is missing" in page


def test_killed_run_without_model_still_gets_curves(tiny_run, tmp_path):
    _, run, _ = tiny_run
    run2 = tmp_path / "killed"
    run2.mkdir()
    lines = (run / "history.jsonl").read_text().splitlines(keepends=True)
    train_lines = [line for line in lines if '"kind": "train"' in line]
    (run2 / "history.jsonl").write_text(lines[0] + "".join(train_lines[:5]) + train_lines[5][:20])
    info = summary(build_report(run2))
    assert info["figures"] == ["curve_loss.png", "curve_learning_rate.png"]
    missing = " ".join(info["missing"])
    assert "no finished epoch" in missing and "no complete model bundle" in missing and "truncated" in missing


def test_data_flag_runs_the_model_on_a_seeded_sample(tiny_run, capsys, tmp_path):
    _, run, folder = tiny_run
    run = copy_run(run, tmp_path / "run")
    code = main(["report", str(run), "--data", str(folder / "test.jsonl"), "--max-examples", "12"])
    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == f"report written to {run / 'report' / 'index.html'}"
    assert "missing:" not in err
    page = (run / "report" / "index.html").read_text()
    assert "Predictions on 12 of the 40 examples" in page
    assert '<tr><td class="num">12</td>' in page  # the metrics table's n


def test_report_command_errors(tmp_path, capsys):
    code = main(["report", str(tmp_path / "nope")])
    assert code == 2 and "no such run folder" in capsys.readouterr().err


def test_train_summary_fits_one_screen(tiny_run, finished):
    result, run, _ = tiny_run
    text = finished
    lines = text.splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 130  # long paths are wrapped at spaces
    assert f"report   {run / 'report' / 'index.html'}" in text
    assert f"accuracy {result.metrics['accuracy']:.4f}" in text
    assert "bertkit report" in finish_run(result, build=False)


def test_read_history_tolerates_damage(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"kind": "start", "step": 0}\n{"kind": "train", "step": 1}\nnot json\n'
                    '{"kind": "start", "step": 0}\n{"kind": "train", "step": 1, "loss": 0.5}\n{"kind": "ep')
    records, notes = read_history(path)
    assert len(records) == 4
    assert notes[0].endswith(":3: not a history record; skipped.") and "last line (6) is truncated" in notes[1]
    start, rest, runs = last_run(records)
    assert runs == 2 and rest == [{"kind": "train", "step": 1, "loss": 0.5}]
    # --resume continues the run: "resume" then a new "start"; the steps after the checkpoint repeat.
    path.write_text('{"kind": "start", "step": 0, "data": "a"}\n{"kind": "train", "step": 1, "loss": 0.9}\n'
                    '{"kind": "train", "step": 2, "loss": 0.8}\n{"kind": "resume", "step": 1}\n'
                    '{"kind": "start", "step": 0, "data": "b"}\n{"kind": "train", "step": 2, "loss": 0.7}\n')
    start, rest, runs = last_run(read_history(path)[0])
    assert runs == 1 and start["data"] == "b" and [r.get("loss") for r in rest] == [0.9, 0.8, None, 0.7]
    info = read_run(tmp_path)
    assert [(r["step"], r["loss"]) for r in info.train] == [(1, 0.9), (2, 0.7)]


def test_curve_points_agree_with_the_metrics():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(bool)
    s = np.round(rng.random(300) * 0.5 + y * 0.3, 2)  # rounding makes ties
    fpr, tpr = roc_points(y, s)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)  # trapezoids: ties count one half
    assert area == pytest.approx(roc_auc(y, s))
    recall, precision, ap = pr_points([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6])
    assert ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # sklearn's average_precision_score
    conf, acc, count, ece = reliability([0.55, 0.65, 0.95, 0.95], [1, 0, 1, 0])
    assert list(count) == [1, 1, 2] and ece == pytest.approx((0.45 + 0.65 + 2 * 0.45) / 4)


def test_confident_rows_pick_the_right_examples():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55], [0.99, 0.01]])
    gold = np.array([1, 1, 0, 0, 0])
    assert list(confident_rows(probs, gold, mistakes=True)) == [0, 3]  # 0.9 wrong, then 0.55 wrong
    assert list(confident_rows(probs, gold, mistakes=False)) == [2, 1, 4]


def test_html_escapes_text():
    section = Section("S")
    section.table(["text"], [["<script>alert(1)</script> & more"]])
    page = render_page("t <b>", [("k", "<i>v</i>")], ["<img src=x>"], [section])
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "<img src=x>" not in page and "<i>v</i>" not in page


def test_ner_and_qa_sections_on_synthetic_predictions(tmp_path):
    from bertkit.core.config import TaskConfig
    from bertkit.data.conll import TokenExample
    from bertkit.data.squad import QAExample
    from bertkit.tasks.ner.report import ner_sections
    from bertkit.report.predictions import EvalData
    from bertkit.tasks.qa.report import qa_sections
    from bertkit.report.runinfo import RunInfo

    labels = ("O", "B-LOC", "I-LOC", "B-PER")
    examples = [TokenExample(("bob", "loved", "new", "york")), TokenExample(("ann", "was", "in", "rome"))]
    gold = [["B-PER", "O", "B-LOC", "I-LOC"], ["B-PER", "O", "O", "B-LOC"]]
    predicted = [[3, 0, 1, 2], [0, 0, 0, 1]]  # sentence 2 misses ann (PER)
    probs = [np.eye(4)[p] for p in predicted]
    predictions = {"tags": [[labels[i] for i in p] for p in predicted], "entity_type": [["PER", "LOC"], ["LOC"]],
                   "entity_first_word": [[0, 2], [3]], "entity_end_word": [[1, 4], [4]]}
    gold = {"tags": gold, "entities": [[("PER", 0, 1), ("LOC", 2, 4)], [("PER", 0, 1), ("LOC", 3, 4)]]}
    info = RunInfo(tmp_path, task_config=TaskConfig(task="ner", labels=labels))
    data = EvalData(examples, ["a:1", "a:6"], probs, gold, "synthetic", predictions=predictions)
    entities, errors = ner_sections(info, data, tmp_path)
    per_type = next(b[2] for b in entities.blocks if b[0] == "table" and b[1][0] == "type")
    assert [r[0] for r in per_type] == ["LOC", "PER"]
    assert per_type[1][1:] == [1.0, 0.5, pytest.approx(2 / 3), 2]  # PER: 1 found of 2 gold, all right
    error_rows = next(b[2] for b in errors.blocks if b[0] == "table")
    assert [r[1] for r in error_rows] == ["ann was in rome"] and error_rows[0][2] == "PER: ann; LOC: rome"
    assert (tmp_path / "ner_per_type.png").stat().st_size > 5000

    qa = [QAExample("1", "Who loved it?", "bob loved it", (("bob", 0),)),
          QAExample("2", "who was there?", "ann was there", (("ann", 0),)),
          QAExample("3", "Where was it?", "in rome", (("rome", 3),))]
    answers = [[{"text": "bob", "probability": 0.9}], [{"text": "was there", "probability": 0.8}],
               [{"text": "in rome", "probability": 0.7}]]
    info = RunInfo(tmp_path, task_config=TaskConfig(task="qa", labels=()))
    data = EvalData(qa, ["q:1", "q:2", "q:3"], answers, [["bob"], ["ann"], ["rome"]], "synthetic")
    overall, errors = qa_sections(info, data, tmp_path)
    tables = [b[2] for b in overall.blocks if b[0] == "table"]
    assert tables[0] == [[3, 1 / 3, pytest.approx((1 + 0 + 2 / 3) / 3)]]
    assert tables[1] == [["who", 2, 0.5, 0.5], ["where", 1, 0.0, pytest.approx(2 / 3)]]
    error_rows = next(b[2] for b in errors.blocks if b[0] == "table")
    assert [(r[1], r[3], r[4]) for r in error_rows] == [("who was there?", "was there", 0.8)]


@pytest.mark.slow
def test_ner_and_qa_reports(tmp_path, tiny_model_dir):
    """NER: per-entity-type scores; QA: EM / F1 by question type. Their predictions are not arrays, so
    training saves only the evaluated guids and the report re-runs the model on exactly those."""
    from test_tasks_train import conll_sentences, qa_rows

    kw = dict(model=str(tiny_model_dir), batch_size=8, epochs=1, learning_rate=3e-3, mixed_precision="float32",
              pooling="mean", verbose=False)
    (tmp_path / "conll").mkdir()
    (tmp_path / "conll" / "train.conll").write_text(conll_sentences(24, 0))
    (tmp_path / "conll" / "test.conll").write_text(conll_sentences(10, 1))
    bertkit.train(data=str(tmp_path / "conll"), output=str(tmp_path / "ner"), task="ner", max_seq_length=16,
                  test_samples=8, **kw)
    with np.load(tmp_path / "ner" / PREDICTIONS_FILE) as z:
        assert len(z["guids"]) == 8 and "scores" not in z.files
    info = summary(build_report(tmp_path / "ner"))
    assert info["missing"] == [] and "ner_per_type.png" in info["figures"]
    page = (tmp_path / "ner" / "report" / "index.html").read_text()
    assert "Per entity type" in page and "<td>PER</td>" in page and "(the run&#x27;s evaluation examples)" in page
    assert "Sentences with the most entity errors" in page or "Every sentence&#x27;s entities are right." in page

    (tmp_path / "squad").mkdir()
    (tmp_path / "squad" / "train.json").write_text(json.dumps(qa_rows(12, 0)))
    (tmp_path / "squad" / "dev.json").write_text(json.dumps(qa_rows(4, 1)))
    bertkit.train(data=str(tmp_path / "squad"), output=str(tmp_path / "qa"), task="qa", max_seq_length=32,
                  task_options={"max_query_length": 8, "doc_stride": 8}, **kw)
    info = summary(build_report(tmp_path / "qa"))
    assert info["missing"] == [] and "qa_by_question_type.png" in info["figures"]
    page = (tmp_path / "qa" / "report" / "index.html").read_text()
    assert "<td>who</td>" in page and "<td>where</td>" in page  # the two question types, 4 questions each
    assert page.count('<td class="num">4</td>') >= 2


# --- headless Chromium -----------------------------------------------------------------------------

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => __errors.push(
  'error: ' + (e.message || (e.target && e.target.outerHTML || '').slice(0, 100))), true);  // capture: img too
document.addEventListener('securitypolicyviolation',
  e => __errors.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI));
const _error = console.error;
console.error = (...a) => { __errors.push('console: ' + a.join(' ')); _error(...a); };
window.addEventListener('load', () => {
  const images = [...document.images].map(i => ({file: i.dataset.file, ok: i.complete && i.naturalWidth > 0}));
  const out = document.createElement('pre');
  out.id = 'bertkit-probe';
  out.textContent = JSON.stringify({images: images, errors: __errors});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        pytest.fail("Chromium is missing but could be installed: run `sh scripts/install_chromium.sh` "
                    "(make install does).")
    pytest.skip("no Chromium, and it cannot be installed here (not root or no apt-get): "
                "install the Debian package `chromium` to run this test.")


def open_in_chromium(page: Path) -> tuple[str, str]:
    """(DOM after the load event, browser log) of `page` in a fresh headless Chromium profile."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
             "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def console_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_report_opens_in_chromium_without_errors(built, tmp_path):
    index = built
    dom, log = open_in_chromium(index)  # the page as shipped: no console message at all
    assert "Most confident mistakes" in dom and console_lines(log) == []

    # The same page with a probe (allowed by widening its CSP) that records errors and image loads.
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    page = index.read_text()
    assert page.count(meta) == 1
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace(meta, meta.replace(CSP, CSP + "; script-src 'unsafe-inline'") + PROBE))
    dom, log = open_in_chromium(probed)
    start = dom.index('<pre id="bertkit-probe">') + len('<pre id="bertkit-probe">')
    result = json.loads(dom[start:dom.index("</pre>", start)].replace("&lt;", "<").replace("&gt;", ">")
                        .replace("&quot;", '"').replace("&amp;", "&"))
    assert result["errors"] == [] and console_lines(log) == []
    assert sorted(i["file"] for i in result["images"]) == sorted(ALL_FIGURES)
    assert all(i["ok"] for i in result["images"]), result["images"]


def test_chromium_probe_catches_a_broken_page(built, tmp_path):
    """The check above can fail: a page fetching from the network and a corrupt image are caught."""
    page = built.read_text()
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    bad = page.replace('<img src="data:image/png;base64,', '<img src="https://example.com/x.png">'
                       '<img data-file="bad" src="data:image/png;base64,AAAA', 1)
    probed = tmp_path / "bad.html"
    probed.write_text(bad.replace(meta, meta.replace(CSP, CSP + "; script-src 'unsafe-inline'") + PROBE))
    dom, log = open_in_chromium(probed)
    assert "csp: img-src https://example.com/x.png" in dom and any("example.com" in c for c in console_lines(log))
    assert '{"file":"bad","ok":false}' in dom.replace("&quot;", '"')
