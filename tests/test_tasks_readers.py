"""CoNLL and SQuAD readers: parsing, error messages naming file:line / question id, the article split,
and the real files in shared/data."""

import json

import pytest

from bertkit.data import locate_splits, read_examples, resolve_data
from bertkit.data.conll import TokenExample, read_conll
from bertkit.data.squad import QAExample, read_qa_jsonl, read_squad, split_by_article
from bertkit.core.errors import BertkitError
from bertkit.tasks import TASKS

CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
"""


def squad_json(shift=0):
    context = "Super Bowl 50 was an American football game. The American Football Conference (AFC) champion " \
              "Denver Broncos defeated the National Football Conference (NFC) champion Carolina Panthers."
    answer_start = context.index("Denver Broncos") + shift
    return {"version": "1.1", "data": [{"title": "Super_Bowl_50", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "Which team won?",
         "answers": [{"text": "Denver Broncos", "answer_start": answer_start}]}]}]}]}


def test_conll_reader(tmp_path):
    path = tmp_path / "eng.train"
    path.write_text(CONLL)
    examples = read_examples(path)  # eng.train -> the conll reader
    assert [e.words for e in examples] == [("EU", "rejects", "German"), ("Peter", "Blackburn")]
    assert examples[0].tags == ("I-ORG", "O", "I-MISC") and examples[1].guid == f"{path}:7"
    assert examples[0].document == examples[1].document == f"{path}:1"  # both after the -DOCSTART- of line 1


def test_conll_documents(tmp_path):
    path = tmp_path / "docs.conll"
    path.write_text("EU X X I-ORG\n\n" + CONLL + "\n" + CONLL)
    examples = read_conll(path)
    assert [e.document for e in examples] == [None, f"{path}:3", f"{path}:3", f"{path}:12", f"{path}:12"]


def test_conll_wrong_column_count_names_the_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text(CONLL.replace("rejects VBZ I-VP O", "rejects VBZ O"))
    with pytest.raises(BertkitError, match=r"bad.conll:4: 3 columns, but the first token line \(3\) has 4"):
        read_conll(path)


def test_conll_bad_tag_names_the_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text(CONLL.replace("I-MISC", "MISC"))
    with pytest.raises(BertkitError, match=r"bad.conll:5: tag 'MISC'"):
        read_conll(path)


def test_squad_reader_and_offset_check(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(squad_json()))
    (ex,) = read_examples(path)
    assert isinstance(ex, QAExample) and ex.qid == "q1" and ex.answers == (("Denver Broncos", 93),)
    path.write_text(json.dumps(squad_json(shift=-3)))
    with pytest.raises(BertkitError, match=r"dev.json \(id q1\): answer 0 'Denver Broncos' does not match"):
        read_squad(path)


def test_qa_jsonl_rows(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "who?", "context": "Bob did."}\n\n{"question": "what?"}\n')
    with pytest.raises(BertkitError, match=r"q.jsonl:3: missing key 'context'"):
        read_qa_jsonl(path)


def test_pair_file_missing_text_b_names_the_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text_a": "a", "text_b": "b", "label": 1}\n{"text_a": "c", "label": 0}\n')
    with pytest.raises(BertkitError, match=r"train.jsonl:2: no 'text_b' here"):
        read_examples(path)


def test_article_split_is_by_title_and_stable():
    examples = [QAExample(f"q{i}", "q", "c", (), f"article{i % 10}") for i in range(40)]
    train, test, held = split_by_article(examples)
    assert len(held) == 3 and {e.title for e in test} == set(held)
    assert not {e.title for e in train} & set(held)
    assert split_by_article(list(reversed(examples)))[2] == held  # independent of the order


def test_wrong_task_for_the_data_is_explained(tmp_path):
    (tmp_path / "train.conll").write_text(CONLL)
    with pytest.raises(BertkitError, match="use --task ner"):
        TASKS["classify"].read_data(str(tmp_path), train_samples=None, test_samples=None, seed=0)


def test_real_conll2003(real_data_dir):
    paths = locate_splits(real_data_dir / "conll2003")
    train = read_conll(paths["train"])
    assert len(train) == 14041 and sum(len(e.words) for e in train) == 203621
    assert resolve_data(str(real_data_dir / "conll2003"), "test").name == "eng.testb"
    assert isinstance(train[0], TokenExample)


def test_real_squad_split(real_data_dir):
    task = TASKS["qa"]
    train, test, description = task.read_data(str(real_data_dir / "squad"), train_samples=None,
                                              test_samples=None, seed=0)
    assert len(train) + len(test) == 10570
    assert len({e.title for e in test}) == 15 and len({e.title for e in train}) == 33
    assert "split by article" in description
