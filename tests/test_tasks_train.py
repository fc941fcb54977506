"""Every task end to end on the tiny BERT and tiny data: train 2-3 epochs, save, reload to identical
predictions, evaluate, predict (library and CLI)."""

import json
import random

import numpy as np
import pytest

import bertkit
from bertkit.cli import main
from bertkit.data import read_examples
from bertkit.core.errors import BertkitError

TRAIN_KW = dict(max_seq_length=16, batch_size=8, learning_rate=3e-3, mixed_precision="float32", pooling="mean",
                verbose=False, eval_every_epoch=False)  # one evaluation, after the last epoch
NAMES, PLACES = ["bob", "ann", "tom"], ["paris", "rome", "oslo"]
FILLER = ["the", "movie", "was", "great", "i", "loved", "it", "plot", "is", "thin", "but"]


def conll_sentences(n, seed):
    """IOB1 sentences: names are PER, places LOC ("new york" is a two-word LOC)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [(w, "O") for w in rng.sample(FILLER, 3)]
        kind = rng.random()
        if kind < 0.7:
            words.insert(rng.randrange(4), (rng.choice(NAMES), "I-PER"))
        if kind > 0.6:
            words += [("new", "I-LOC"), ("york", "I-LOC")] if rng.random() < 0.3 else [(rng.choice(PLACES), "I-LOC")]
        out.append("\n".join(f"{w} X X {t}" for w, t in words))
    return "-DOCSTART- -X- O O\n\n" + "\n\n".join(out) + "\n"


@pytest.fixture(scope="module")
def conll_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conll")
    (folder / "train.conll").write_text(conll_sentences(48, 0))
    (folder / "test.conll").write_text(conll_sentences(12, 1))
    return folder


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, tiny_model_dir, conll_dir):
    run = tmp_path_factory.mktemp("ner") / "run"
    result = bertkit.train(data=str(conll_dir), output=str(run), model=str(tiny_model_dir), task="ner",
                           epochs=8, task_options={"document_context": "on"}, **TRAIN_KW)
    return result, run


def test_symmetric_pairs_train_on_both_orders(tmp_path, tiny_model_dir):
    rng = random.Random(0)
    rows = []
    for i in range(40):  # paraphrase-like: label 1 when both texts share their first word
        a, b = rng.sample(FILLER, 2), rng.sample(FILLER, 2)
        if i % 2:
            b[0] = a[0]
        rows.append({"text_a": " ".join(a), "text_b": " ".join(b), "label": int(a[0] == b[0])})
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = bertkit.train(data=str(path), output=str(tmp_path / "run"), model=str(tiny_model_dir), epochs=1,
                           task_options={"symmetric": "on"}, **TRAIN_KW)
    assert result.stats["train_examples"] == 80  # every pair in both orders
    pairs = [("the movie was great", "the plot is thin"), ("i loved it", "but it was awful")]
    model = bertkit.load(tmp_path / "run")
    np.testing.assert_allclose(model.predict_scores(pairs), model.predict_scores([(b, a) for a, b in pairs]),
                               atol=1e-9)
    assert model.evaluate(str(path))["n"] == 40
    single = tmp_path / "single.jsonl"
    single.write_text('{"text": "i loved it", "label": 1}\n{"text": "awful", "label": 0}\n')
    with pytest.raises(BertkitError, match="symmetric=on needs sentence pairs"):
        bertkit.train(data=str(single), output=None, model=str(tiny_model_dir), epochs=1,
                      task_options={"symmetric": "on"}, **TRAIN_KW)


def test_ner_trains_and_reloads_identically(ner_run, conll_dir):
    result, run = ner_run
    assert result.metrics["n"] == 12 and result.metrics["f1"] > 0.5  # names / places are easy to tell apart
    task = json.loads((run / "model" / "task_config.json").read_text())
    assert task["task"] == "ner" and task["labels"] == ["O", "B-LOC", "I-LOC", "B-PER"]
    texts = ["bob loved the movie in paris .", "ann was in new york but tom was thin " * 4]
    before = result.model.predict_scores(texts)
    model = bertkit.load(run)
    for a, b in zip(before, model.predict_scores(texts)):
        np.testing.assert_array_equal(a, b)
    metrics = model.evaluate(str(conll_dir / "test.conll"))
    assert metrics["f1"] == pytest.approx(result.metrics["f1"])


def test_ner_predicts_entities_with_offsets_over_windows(ner_run):
    result, _ = ner_run
    long_text = "ann was in new york but tom was thin " * 4  # ~70 pieces: several 14-piece windows
    rows = result.model.predict(["bob loved the movie in paris .", long_text])
    for row in rows:
        assert len(row["tags"]) == len(row["words"])
        for ent in row["entities"]:
            assert row["text"][ent["start"]:ent["end"]] == ent["text"] and ent["type"] in ("PER", "LOC")
    assert len(rows[1]["words"]) == 36


def test_ner_answers_do_not_depend_on_how_rows_are_batched(ner_run):
    # Rows of many lengths: batches of 2 pad to short and long widths, one batch of 64 pads all to the longest.
    result, _ = ner_run
    texts = ["bob", "ann", "ann was in rome", "ann was in new york but tom was thin " * 3, "tom", "tom loved paris",
             "the plot is thin but bob loved it in oslo", "i was bored"]  # the shortest rows batch to width 8
    small, large = result.model.predict_scores(texts, batch_size=2), result.model.predict_scores(texts, batch_size=64)
    for a, b in zip(small, large):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_ner_unknown_tag_at_evaluation(ner_run, tmp_path):
    result, _ = ner_run
    bad = tmp_path / "bad.conll"
    bad.write_text("bob X X B-PER\nparis X X I-GPE\n")
    with pytest.raises(BertkitError, match=r"bad.conll:1: tag 'B-GPE'"):
        result.model.evaluate(str(bad))


def test_multilabel_from_conll(tmp_path, tiny_model_dir, conll_dir):
    result = bertkit.train(data=str(conll_dir), output=str(tmp_path / "run"), model=str(tiny_model_dir),
                           task="multilabel", epochs=1, **TRAIN_KW)
    assert result.model.labels == ("LOC", "PER")
    assert {"micro_f1", "macro_f1", "subset_accuracy"} <= set(result.metrics)
    texts = ["bob loved paris", "the movie was great"]
    rows = bertkit.load(tmp_path / "run").predict(texts)
    np.testing.assert_array_equal(result.model.predict_scores(texts),
                                  bertkit.load(tmp_path / "run").predict_scores(texts))
    assert set(rows[0]["probabilities"]) == {"LOC", "PER"} and isinstance(rows[0]["labels"], list)


def test_regression_on_synthetic_scores(tmp_path, tiny_model_dir):
    from conftest import write_jsonl

    rng = random.Random(0)
    rows = []
    for _ in range(48):
        k = rng.randrange(4)
        rows.append({"text": " ".join(["great"] * k + rng.sample(FILLER[4:], 2)), "label": 1.5 * k})
    write_jsonl(tmp_path / "train.jsonl", rows[:32])  # whole batches: one trace of the train step
    write_jsonl(tmp_path / "test.jsonl", rows[32:])
    result = bertkit.train(data=str(tmp_path / "train.jsonl"), output=str(tmp_path / "run"),
                           model=str(tiny_model_dir), task="regression", epochs=2, **TRAIN_KW)
    assert {"pearson", "spearman", "mse"} <= set(result.metrics)
    extra = bertkit.load(tmp_path / "run").task_config.extra
    assert extra["target_mean"] == pytest.approx(np.mean([r["label"] for r in rows[:32]]))
    texts = ["great great plot", "it is thin"]
    np.testing.assert_array_equal(result.model.predict_scores(texts),
                                  bertkit.load(tmp_path / "run").predict_scores(texts))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "great", "label": "high"}\n')
    with pytest.raises(BertkitError, match=r"bad.jsonl:1: label 'high' is not a number"):
        result.model.evaluate(str(bad))


def qa_rows(n, seed):
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        who, where = rng.choice(NAMES), rng.choice(PLACES)
        context = f"{who} loved the movie . it was in {where} but the plot was thin ."
        qas = [{"id": f"{seed}-{i}-who", "question": "who loved it ?",
                "answers": [{"text": who, "answer_start": 0}]},
               {"id": f"{seed}-{i}-where", "question": "where was it ?",
                "answers": [{"text": where, "answer_start": context.index(where)}]}]
        paragraphs.append({"context": context, "qas": qas})
    return {"version": "1.1", "data": [{"title": f"t{seed}", "paragraphs": paragraphs}]}


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("squad")
    (folder / "train.json").write_text(json.dumps(qa_rows(24, 0)))
    (folder / "dev.json").write_text(json.dumps(qa_rows(6, 1)))
    run = tmp_path_factory.mktemp("qa") / "run"
    assert main(["train", "--task", "qa", "--data", str(folder), "--output", str(run), "--model",
                 str(tiny_model_dir), "--max-seq-length", "32", "--batch-size", "8", "--epochs", "3",
                 "--learning-rate", "3e-3", "--mixed-precision", "float32", "--task-option", "max_query_length=8",
                 "--task-option", "doc_stride=8", "--quiet", "--no-report"]) == 0
    return run, folder


def test_qa_trains_saves_options_and_reloads_identically(qa_run):
    run, _ = qa_run
    model = bertkit.load(run)
    assert model.task_config.extra == {"doc_stride": 8, "max_query_length": 8, "n_best": 20, "max_answer_length": 30}
    pairs = [("who loved it ?", "tom loved the movie . it was in oslo but the plot was thin .")]
    first, second = model.predict_scores(pairs), bertkit.load(run).predict_scores(pairs)
    assert first == second
    (row,) = model.predict(pairs)
    assert pairs[0][1][row["start"]:row["end"]] == row["answer"] and row["n_best"][0]["text"] == row["answer"]


def test_qa_cli_evaluate_and_predict(qa_run, capsys, tmp_path):
    run, folder = qa_run
    assert main(["evaluate", "--model", str(run), "--data", str(folder), "--output-json",
                 str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == 12 and 0.0 <= metrics["exact_match"] <= metrics["f1"] <= 1.0
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "--question", "where was it ?", "--context",
                 "ann loved the movie . it was in rome but the plot was thin ."]) == 0
    row = json.loads(capsys.readouterr().out)
    assert {"answer", "start", "end", "score", "probability"} <= set(row)
    assert main(["predict", "--model", str(run), "--question", "who?"]) == 2


def test_ner_cli_predict_and_evaluate(ner_run, conll_dir, capsys, tmp_path):
    _, run = ner_run
    assert main(["evaluate", "--model", str(run), "--data", str(conll_dir / "test.conll"), "--output-json",
                 str(tmp_path / "m.json")]) == 0
    assert "f1" in json.loads((tmp_path / "m.json").read_text())
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "bob loved the movie in paris ."]) == 0
    row = json.loads(capsys.readouterr().out)
    assert all(row["text"][e["start"]:e["end"]] == e["text"] for e in row["entities"])


def ner_on_and_off(tmp_path, model_dir, option, train_text, test_text, epochs):
    """NER trained on `train_text` (evaluated on `test_text`) with the task option on and off."""
    (tmp_path / "train.conll").write_text(train_text)
    (tmp_path / "test.conll").write_text(test_text)
    return {choice: bertkit.train(data=str(tmp_path / "train.conll"), output=None, model=str(model_dir), task="ner",
                                  epochs=epochs, task_options={option: choice}, **TRAIN_KW)
            for choice in ("on", "off")}


def ner_windows(task, examples):
    """The rows of `examples` and, per word, the (row, position) it is read back from (one chunk)."""
    ((_, _, columns),) = list(task.chunks(examples, True))
    encoded = task.encode(columns)
    rows = encoded["rows"]["input_word_ids"]
    where = list(zip(encoded["meta"]["window"].numpy().tolist(), encoded["meta"]["position"].numpy().tolist()))
    return rows, where


def assert_every_word_owned_once(task, examples):
    rows, where = ner_windows(task, examples)
    lengths = rows.row_lengths().numpy()
    assert len(where) == sum(len(e.words) for e in examples)
    assert len(set(where)) == len(where)  # no two words read from one place
    assert all(0 < p < lengths[w] - 1 for w, p in where)  # inside its row, never [CLS] / [SEP]


def test_ner_case_features_tell_apart_what_an_uncased_encoder_cannot(tmp_path, tiny_model_dir):
    # "i saw rose" (O) and "i saw Rose" (PER) are the same ids to an uncased encoder: only casing differs.
    def sentences(n, seed):
        rng = random.Random(seed)
        rows = []
        for _ in range(n):
            word, tag = rng.choice([("rose", "O"), ("Rose", "I-PER"), ("bob", "O"), ("Bob", "I-PER")])
            rows.append(f"i X X O\nsaw X X O\n{word} X X {tag}")
        return "\n\n".join(rows) + "\n"

    runs = ner_on_and_off(tmp_path, tiny_model_dir, "case_features", sentences(64, 0), sentences(16, 1), epochs=6)
    for choice, result in runs.items():
        assert result.model.task.model_input_names()[-1] == ("input_case_ids" if choice == "on" else "input_type_ids")
    assert runs["on"].metrics["f1"] == 1.0
    assert runs["off"].metrics["f1"] < 0.8  # without casing the two spellings get the same tag


def context_documents(n, seed):
    """Documents of two sentences: "i loved bob|rome" then "i loved kim", where "kim" is a PER after
    bob and a LOC after rome, which only the document's first sentence can tell."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        word, kind = rng.choice([("bob", "PER"), ("rome", "LOC")])
        docs.append(f"-DOCSTART- X X O\n\ni X X O\nloved X X O\n{word} X X I-{kind}\n\n"
                    f"i X X O\nloved X X O\nkim X X I-{kind}\n")
    return "\n".join(docs)


def test_ner_document_context_reads_neighbouring_sentences(tmp_path, tiny_model_dir):
    runs = ner_on_and_off(tmp_path, tiny_model_dir, "document_context", context_documents(64, 0),
                          context_documents(16, 1), epochs=8)
    examples = read_examples(tmp_path / "test.conll")
    for choice, result in runs.items():
        rows, _ = ner_windows(result.model.task, examples)
        assert rows.nrows() == (16 if choice == "on" else 32)  # one window per document, or per sentence
        assert_every_word_owned_once(result.model.task, examples)
    assert runs["on"].metrics["f1"] == 1.0
    assert runs["off"].metrics["f1"] < 0.9  # alone, "i loved kim" does not say what kim is


def test_ner_document_windows_own_every_word_once(ner_run, tmp_path):
    result, _ = ner_run
    path = tmp_path / "docs.conll"
    path.write_text(conll_sentences(12, 2) + conll_sentences(5, 3))  # two documents, each > one 14-piece window
    examples = read_examples(path)
    assert len({e.document for e in examples}) == 2
    rows, _ = ner_windows(result.model.task, examples)
    assert rows.nrows() > 4 and max(rows.row_lengths().numpy()) == 16  # documents cut into full windows
    assert_every_word_owned_once(result.model.task, examples)
    probs = result.model.predict_scores(examples)
    gold = result.model.task.gold(examples)["tags"]
    assert [len(p) for p in probs] == [len(e.words) for e in examples] == [len(g) for g in gold]


def test_ner_rejects_an_unknown_case_features_choice(tmp_path, tiny_model_dir, conll_dir):
    with pytest.raises(BertkitError, match="case_features"):
        bertkit.train(data=str(conll_dir), output=None, model=str(tiny_model_dir), task="ner", epochs=1,
                      task_options={"case_features": "maybe"}, **TRAIN_KW)


def test_regression_on_conll_entity_counts(tmp_path, tiny_model_dir, conll_dir):
    result = bertkit.train(data=str(conll_dir), output=None, model=str(tiny_model_dir), task="regression",
                           epochs=6, **TRAIN_KW)
    m = result.metrics
    assert m["n"] == 12 and m["pearson"] is not None and m["pearson"] > 0.5  # counts 0-2 are learnable
    assert result.model.task_config.extra["target_mean"] > 0
