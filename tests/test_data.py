"""bertkit.data: readers, their error messages, labels, dataset resolution, sampling, the IMDB download."""

import hashlib
import io
import os
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from bertkit.data import (
    READERS,
    Example,
    LabelVocab,
    load_splits,
    read_examples,
    read_imdb_folder,
    resolve_data,
    sample_examples,
)
from bertkit.data import datasets
from bertkit.core.errors import BertkitError

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("BERTKIT_DATA") or REPO / ".." / "shared" / "data").resolve()


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def raises(match: str):
    return pytest.raises(BertkitError, match=match)


# ---------------------------------------------------------------- readers


def test_registry_names():
    assert set(READERS) == {"jsonl", "csv", "tsv", "aclimdb", "conll", "squad"}


def test_jsonl_single_texts(tmp_path):
    f = write(tmp_path / "a.jsonl", '{"text": "good", "label": 1}\n\n{"text": "bad", "label": 0}\n{"text": "?"}\n')
    ex = read_examples(f)
    assert ex == [
        Example("good", None, 1, f"{f}:1"),
        Example("bad", None, 0, f"{f}:3"),  # blank line 2 skipped, line numbers kept
        Example("?", None, None, f"{f}:4"),  # no label: unlabelled
    ]


def test_jsonl_pairs_and_aliases(tmp_path):
    f = write(tmp_path / "p.jsonl", '{"text_a": "a", "text_b": "b", "label": "x"}\n')
    assert read_examples(f) == [Example("a", "b", "x", f"{f}:1")]
    g = write(tmp_path / "g.jsonl", '{"sentence1": "s1", "sentence2": "s2", "label": 0}\n')
    [e] = read_examples(g)
    assert (e.text_a, e.text_b) == ("s1", "s2")
    h = write(tmp_path / "h.jsonl", '{"sentence": "only", "label": 0}\n')
    assert read_examples(h)[0].text_a == "only"


def test_jsonl_custom_columns_and_line_separator_in_text(tmp_path):
    f = write(tmp_path / "c.jsonl", '{"review": "one\u2028two", "stars": 5, "text": "ignored"}\n')
    [ex] = read_examples(f, text_column="review", label_column="stars")
    assert ex.text_a == "one\u2028two" and ex.label == 5


def test_csv_quotes_multiline_and_int_labels(tmp_path):
    f = write(tmp_path / "d.csv", 'id,text,label\n1,"a, b",1\n2,"two\nlines",0\n3,plain,\n')
    ex = read_examples(f)
    assert [e.text_a for e in ex] == ["a, b", "two\nlines", "plain"]
    assert [e.label for e in ex] == [1, 0, None]  # all-integer column -> int; empty cell -> None
    assert [e.guid for e in ex] == [f"{f}:2", f"{f}:3", f"{f}:5"]  # line where each record starts


def test_csv_string_labels_stay_strings_and_bom_is_dropped(tmp_path):
    f = write(tmp_path / "e.csv", "\ufefftext,label\nx,pos\ny,1\n")
    assert [e.label for e in read_examples(f)] == ["pos", "1"]


def test_tsv_is_read_with_quoting_off_like_glue(tmp_path):
    f = write(tmp_path / "f.tsv", 'index\tsentence1\tsentence2\tlabel\n0\the said "hi\tthere\tentailment\n')
    [ex] = read_examples(f)
    assert (ex.text_a, ex.text_b, ex.label) == ('he said "hi', "there", "entailment")


def test_format_override_and_unknown_extension(tmp_path):
    f = write(tmp_path / "data.txt", '{"text": "x"}\n')
    with raises(r"data\.txt: cannot tell the format.*format="):
        read_examples(f)
    assert read_examples(f, format="jsonl")[0].text_a == "x"
    with raises("unknown format 'xml'"):
        read_examples(f, format="xml")


# ---------------------------------------------------------------- reader errors: file and line named


def test_missing_path(tmp_path):
    with raises(r"nope\.jsonl: no such file"):
        read_examples(tmp_path / "nope.jsonl")


def test_malformed_jsonl_line(tmp_path):
    f = write(tmp_path / "bad.jsonl", '{"text": "ok"}\n{"text": "oops",}\n')
    with raises(r"bad\.jsonl:2: not valid JSON \(.*column"):
        read_examples(f)


def test_jsonl_line_not_an_object(tmp_path):
    with raises(r"bad\.jsonl:1: expected a JSON object, got list"):
        read_examples(write(tmp_path / "bad.jsonl", '["text"]\n'))


def test_jsonl_row_missing_text_names_keys(tmp_path):
    f = write(tmp_path / "m.jsonl", '{"text": "a"}\n{"text": "b"}\n{"txt": "c", "label": 1}\n')
    with raises(r"m\.jsonl:3: no 'text' key; this row has \['label', 'txt'\]"):
        read_examples(f)


def test_first_row_without_text_column_names_columns(tmp_path):
    f = write(tmp_path / "m.jsonl", '{"body": "a", "label": 1}\n')
    with raises(r"m\.jsonl:1: no text column 'text' \(or text_a, sentence, sentence1\); the columns are \['body', 'label'\]"):
        read_examples(f)


def test_csv_header_missing_text_column(tmp_path):
    f = write(tmp_path / "h.csv", "review,label\nx,1\n")
    with raises(r"h\.csv:1: no text column 'text'.*\['label', 'review'\].*text_column="):
        read_examples(f)


def test_empty_text(tmp_path):
    f = write(tmp_path / "e.jsonl", '{"text": "a"}\n{"text": "   "}\n')
    with raises(r"e\.jsonl:2: empty text in 'text'"):
        read_examples(f)
    g = write(tmp_path / "e.csv", "text,label\nfine,1\n,0\n")
    with raises(r"e\.csv:3: empty text"):
        read_examples(g)


def test_text_must_be_a_string(tmp_path):
    with raises(r"n\.jsonl:1: 'text' must be a string, got int"):
        read_examples(write(tmp_path / "n.jsonl", '{"text": 5}\n'))


def test_non_utf8_names_line_and_offset(tmp_path):
    f = write(tmp_path / "w.jsonl", b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with raises(r"w\.jsonl:2: not valid UTF-8 \(byte 0xe9 at byte offset 30\).*iconv"):
        read_examples(f)


@pytest.mark.parametrize("content", ["", "\n  \n"])
@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv", "empty.tsv"])
def test_empty_file(tmp_path, name, content):
    with raises(rf"{name}: the file is empty"):
        read_examples(write(tmp_path / name, content))


def test_header_only(tmp_path):
    with raises(r"h\.csv: a header \(line 1\) but no rows"):
        read_examples(write(tmp_path / "h.csv", "text,label\n"))


def test_pair_file_with_rows_lacking_text_b(tmp_path):
    f = write(tmp_path / "p.jsonl", '{"text_a": "a", "text_b": "b"}\n{"text_a": "c"}\n')
    with raises(r"p\.jsonl:2: no 'text_b' here, but other rows of this pair file have one"):
        read_examples(f)
    g = write(tmp_path / "q.jsonl", '{"text_a": "c"}\n{"text_a": "a", "text_b": "b"}\n')  # first row lacks it
    with raises(r"q\.jsonl:1: no 'text_b'"):
        read_examples(g)


def test_explicit_text_b_column_must_exist(tmp_path):
    with raises(r"no text_b column 'hyp'"):
        read_examples(write(tmp_path / "x.jsonl", '{"text": "a"}\n'), text_b_column="hyp")


def test_tsv_field_count_mismatch(tmp_path):
    f = write(tmp_path / "t.tsv", "text\tlabel\na\t1\nhas\ta tab\t0\n")
    with raises(r"t\.tsv:3: 3 fields, but the header \(line 1\) has 2\. .*tab inside a text"):
        read_examples(f)


# ---------------------------------------------------------------- aclImdb folders


def make_imdb(root: Path) -> Path:
    for split in ("train", "test"):
        write(root / split / "pos" / "10_7.txt", f"{split} pos ten<br /><br />end")
        write(root / split / "pos" / "2_8.txt", f"{split} pos two")
        write(root / split / "neg" / "1_1.txt", f"{split} neg one")
    write(root / "README", "not a review")
    return root


def test_imdb_split_folder(tmp_path):
    root = make_imdb(tmp_path / "aclImdb")
    ex = read_examples(root / "train")
    assert [(e.guid, e.label) for e in ex] == [("train/neg/1_1", 0), ("train/pos/2_8", 1), ("train/pos/10_7", 1)]
    assert ex[2].text_a == "train pos ten<br /><br />end"  # kept exactly
    assert [e.guid for e in read_imdb_folder(root, "test")][0] == "test/neg/1_1"


def test_imdb_root_and_other_folders_are_explained(tmp_path):
    root = make_imdb(tmp_path / "aclImdb")
    with raises(r"aclImdb: an aclImdb root folder; read one split"):
        read_examples(root)
    with raises(r"not an aclImdb split"):
        read_examples(root / "train" / "pos")
    with raises(r"valid: no aclImdb split here"):
        read_imdb_folder(root, "valid")


def test_imdb_bad_review_files(tmp_path):
    root = make_imdb(tmp_path / "aclImdb")
    write(root / "train" / "neg" / "3_2.txt", b"caf\xe9")
    with raises(r"3_2\.txt:1: not valid UTF-8"):
        read_examples(root / "train")
    write(root / "train" / "neg" / "3_2.txt", "")
    with raises(r"3_2\.txt: the file is empty"):
        read_examples(root / "train")


# ---------------------------------------------------------------- labels


def ex(*labels):
    return [Example("t", label=lab, guid=f"f.jsonl:{i + 1}") for i, lab in enumerate(labels)]


def test_label_vocab_sorts_ints_numerically_and_strings_alphabetically():
    v = LabelVocab.from_examples(ex(10, 2, 1, 2))
    assert v.labels == (1, 2, 10) and v.names == ("1", "2", "10") and v.label_type == "int"
    w = LabelVocab.from_examples(ex("pos", "neg", "neutral"))
    assert w.labels == ("neg", "neutral", "pos") and len(w) == 3
    assert LabelVocab.from_examples(ex(True, False, 1.0)).labels == (0, 1)


def test_label_vocab_errors_name_the_example():
    with raises(r"labels mix numbers and strings: f\.jsonl:1 has 1 but f\.jsonl:2 has 'pos'"):
        LabelVocab.from_examples(ex(1, "pos"))
    with raises(r"f\.jsonl:2: no label"):
        LabelVocab.from_examples(ex(1, None))
    with raises(r"f\.jsonl:1: label 0\.5 is not a class"):
        LabelVocab.from_examples(ex(0.5, 1))
    with raises("single label"):
        LabelVocab.from_examples(ex(1, 1))


def test_label_vocab_encode_and_unknown_label_at_evaluation():
    v = LabelVocab.from_examples(ex(0, 1))
    np.testing.assert_array_equal(v.encode(ex(1, 0, "1")), [1, 0, 1])  # "1" from a CSV is the label 1
    with raises(r"f\.jsonl:2: label 2 is not one of the training labels \[0, 1\] \(2 label\(s\) unknown: 2, 7\)"):
        v.encode(ex(0, 2, 7))
    with raises(r"f\.jsonl:1: no label"):
        v.encode(ex(None))
    assert v.decode(np.array([1, 0])) == [1, 0]


def test_label_vocab_json_round_trip_keeps_type():
    for vocab in (LabelVocab((0, 1), "int"), LabelVocab(("entailment", "not_entailment"), "str")):
        data = vocab.to_json()
        assert all(isinstance(n, str) for n in data["labels"])
        assert LabelVocab.from_json(data) == vocab
    with raises("label_type is 'int' but labels"):
        LabelVocab.from_json({"labels": ["a"], "label_type": "int"})
    with raises("expected"):
        LabelVocab.from_json({"labels": ["a"]})


def test_label_vocab_multi_hot():
    v = LabelVocab.from_examples(ex(["a", "b"], ["c"]))
    np.testing.assert_array_equal(v.encode_multi_hot(ex(["a", "c"], "b")), [[1, 0, 1], [0, 1, 0]])


# ---------------------------------------------------------------- dataset resolution


def make_jsonl(path: Path, n: int, pair=False) -> Path:
    rows = [
        f'{{"text_a": "a{i}", "text_b": "b{i}", "label": {i % 2}}}' if pair else f'{{"text": "t{i}", "label": {i % 2}}}'
        for i in range(n)
    ]
    return write(path, "\n".join(rows) + "\n")


def test_dataset_name_under_bertkit_data(tmp_path, monkeypatch):
    make_jsonl(tmp_path / "data" / "toy" / "train.jsonl", 6)
    make_jsonl(tmp_path / "data" / "toy" / "dev.jsonl", 3)
    monkeypatch.setenv("BERTKIT_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    train, test, desc = load_splits("toy")
    assert len(train) == 6 and len(test) == 3  # test falls back to dev
    assert "train.jsonl (6 examples)" in desc and "dev.jsonl (3 examples)" in desc
    make_jsonl(tmp_path / "data" / "toy" / "test.jsonl", 4)
    assert resolve_data("toy", "test").name == "test.jsonl" and resolve_data("toy", "dev").name == "dev.jsonl"
    with raises(r"unknown data 'nope'.*BERTKIT_DATA=.* has no nope/ sub-folder \(it has \['toy'\]\)"):
        resolve_data("nope")
    monkeypatch.delenv("BERTKIT_DATA")
    with raises("BERTKIT_DATA is not set"):
        resolve_data("toy")
    with raises("split must be one of"):
        resolve_data(tmp_path / "data" / "toy", "validation")


def test_folder_and_file_specs(tmp_path):
    d = tmp_path / "glue"
    write(d / "my_train.csv", "sentence,label\nx,0\ny,1\n")
    write(d / "my_test.csv", "sentence,label\nz,1\n")
    assert resolve_data(d / "my_train.csv", "test") == d / "my_test.csv"
    train, test, _ = load_splits(d / "my_train.csv")
    assert [e.text_a for e in train] == ["x", "y"] and [e.text_a for e in test] == ["z"]
    write(d / "reviews.csv", "text\nx\n")
    assert resolve_data(d / "reviews.csv", "test") is None  # no "train" in the name: no guessing
    assert load_splits(d / "reviews.csv")[1] is None
    conll = tmp_path / "conll"
    for name in ("eng.train", "eng.testa", "eng.testb"):
        write(conll / name, "-DOCSTART- -X- O O\n")
    assert [resolve_data(conll, s).name for s in ("train", "dev", "test")] == ["eng.train", "eng.testa", "eng.testb"]


def test_folder_errors(tmp_path):
    write(tmp_path / "two" / "train.jsonl", "{}")
    write(tmp_path / "two" / "train.csv", "a")
    with raises(r"several train files \['train.csv', 'train.jsonl'\]"):
        resolve_data(tmp_path / "two")
    write(tmp_path / "none" / "notes.md", "x")
    with raises(r"none: no training file .* it holds \['notes.md'\]"):
        resolve_data(tmp_path / "none")
    with raises(r"missing/train.jsonl: no such file or folder"):
        resolve_data(tmp_path / "missing" / "train.jsonl")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "train.jsonl").symlink_to("../elsewhere/train.jsonl")  # relative: broken here
    with raises(r"linked: train.jsonl is a symbolic link to a missing file \(../elsewhere/train.jsonl\)"):
        resolve_data(tmp_path / "linked")


def test_imdb_layout_specs(tmp_path):
    root = make_imdb(tmp_path / "aclImdb")
    train, test, _ = load_splits(root)
    assert len(train) == 3 and test[0].guid == "test/neg/1_1"
    assert resolve_data(root / "train", "test") == root / "test"  # a split folder finds its sibling


def test_sampling_is_seeded_and_keeps_order():
    data = list(range(100))
    a, b = sample_examples(data, 10, seed=1), sample_examples(data, 10, seed=1)
    assert a == b and a == sorted(a) and len(set(a)) == 10
    assert sample_examples(data, 10, seed=2) != a
    assert sample_examples(data, None) == data and sample_examples(data, 500) == data
    assert sample_examples(data, np.int64(3), seed=1) == sample_examples(data, 3, seed=1)
    for bad in (0, -1, 2.5, True):
        with raises("positive integer"):
            sample_examples(data, bad)


def test_load_splits_sampling(tmp_path):
    make_jsonl(tmp_path / "train.jsonl", 50)
    make_jsonl(tmp_path / "test.jsonl", 20)
    t1, e1, desc = load_splits(tmp_path, train_samples=10, test_samples=5, seed=7)
    t2, e2, _ = load_splits(tmp_path, train_samples=10, test_samples=5, seed=7)
    assert (t1, e1) == (t2, e2) and (len(t1), len(e1)) == (10, 5)
    assert "sampled 10 with seed 7" in desc and "sampled 5 with seed 7" in desc


# ---------------------------------------------------------------- IMDB download (never the network)


def make_tarball(path: Path, members: dict) -> str:
    """Writes a tar.gz of name -> bytes (or ("symlink", target)); returns its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


FAKE_IMDB = {
    "aclImdb/README": b"readme",
    "aclImdb/train/pos/0_9.txt": b"Bromwell High is a cartoon comedy.",
    "aclImdb/train/neg/0_3.txt": b"bad",
    "aclImdb/test/pos/1_10.txt": b"great",
    "aclImdb/test/neg/1_2.txt": b"awful",
    "aclImdb/train/unsup/0_0.txt": b"unlabelled",
    "aclImdb/train/pos/../../../../evil_0_1.txt": b"path traversal",
    "/tmp/abs_0_1.txt": b"absolute",
    "aclImdb/train/pos/5_9.txt": ("symlink", "/etc/passwd"),
}


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    monkeypatch.delenv("BERTKIT_DATA", raising=False)
    monkeypatch.setenv("BERTKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cache"


def test_imdb_download_extracts_safely_once(tmp_path, monkeypatch, offline_env):
    served = tmp_path / "served" / "aclImdb_v1.tar.gz"
    served.parent.mkdir()
    monkeypatch.setattr(datasets, "IMDB_URL", served.as_uri())
    monkeypatch.setattr(datasets, "IMDB_SHA256", make_tarball(served, FAKE_IMDB))
    train, test, desc = load_splits("imdb")
    assert [(e.text_a, e.label, e.guid) for e in train] == [
        ("bad", 0, "train/neg/0_3"),
        ("Bromwell High is a cartoon comedy.", 1, "train/pos/0_9"),
    ]
    assert [e.label for e in test] == [0, 1] and str(offline_env / "aclImdb") in desc
    root = offline_env / "aclImdb"
    extracted = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert extracted == ["test/neg/1_2.txt", "test/pos/1_10.txt", "train/neg/0_3.txt", "train/pos/0_9.txt"]
    assert not list(tmp_path.rglob("evil_0_1.txt")) and not Path("/tmp/abs_0_1.txt").exists()
    assert sorted(p.name for p in offline_env.iterdir()) == ["aclImdb"]  # archive and partials removed
    monkeypatch.setattr(datasets, "IMDB_URL", (tmp_path / "gone.tar.gz").as_uri())
    assert len(load_splits("imdb")[0]) == 2  # cached: no second download


def test_imdb_download_checksum_mismatch(tmp_path, monkeypatch, offline_env):
    served = tmp_path / "aclImdb_v1.tar.gz"
    make_tarball(served, FAKE_IMDB)
    monkeypatch.setattr(datasets, "IMDB_URL", served.as_uri())
    monkeypatch.setattr(datasets, "IMDB_SHA256", "0" * 64)
    with raises("the download has sha256 .* expected 0000"):
        load_splits("imdb")
    assert list(offline_env.iterdir()) == []


def test_imdb_corrupt_archive_is_deleted(tmp_path, monkeypatch, offline_env):
    served = write(tmp_path / "aclImdb_v1.tar.gz", b"not a tarball")
    monkeypatch.setattr(datasets, "IMDB_URL", served.as_uri())
    monkeypatch.setattr(datasets, "IMDB_SHA256", hashlib.sha256(b"not a tarball").hexdigest())
    with raises("cannot extract the IMDB archive"):
        load_splits("imdb")
    assert list(offline_env.iterdir()) == []


def test_imdb_offline_fails_promptly_with_advice(monkeypatch, offline_env):
    calls = []

    def offline(url, timeout=None):
        calls.append((url, timeout))
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with raises(r"could not download the IMDB dataset from https://ai\.stanford\.edu/.*Set BERTKIT_DATA"):
        load_splits("imdb")
    assert calls == [(datasets.IMDB_URL, datasets.DOWNLOAD_TIMEOUT)] and datasets.DOWNLOAD_TIMEOUT <= 30
    assert not any(offline_env.iterdir())


def test_local_imdb_is_used_before_downloading(tmp_path, monkeypatch):
    make_jsonl(tmp_path / "data" / "imdb" / "train.jsonl", 4)
    monkeypatch.setenv("BERTKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(datasets.urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded"))
    assert len(load_splits("imdb")[0]) == 4


# ---------------------------------------------------------------- the real shared data

needs_real_data = pytest.mark.skipif(not (REAL_DATA / "imdb").is_dir(), reason=f"no {REAL_DATA}/imdb")


@needs_real_data
def test_real_imdb_counts(monkeypatch):
    monkeypatch.setenv("BERTKIT_DATA", str(REAL_DATA))
    train, test, _ = load_splits("imdb")
    assert (len(train), len(test)) == (10_000, 5_000)
    assert sum(e.label for e in train) == 5_000 and sum(e.label for e in test) == 2_500
    assert LabelVocab.from_examples(train).labels == (0, 1)
    small, _, _ = load_splits("imdb", train_samples=100, seed=3)
    assert small == load_splits("imdb", train_samples=100, seed=3)[0]


@needs_real_data
def test_real_sentence_pairs(monkeypatch):
    monkeypatch.setenv("BERTKIT_DATA", str(REAL_DATA))
    train, dev, _ = load_splits("rte")  # no rte/test.jsonl: dev is the evaluation split
    assert (len(train), len(dev)) == (2_490, 277) and all(e.text_b for e in train + dev)
    assert sum(e.label == 1 for e in dev) == 131  # not_entailment
    train, test, _ = load_splits("mrpc")
    assert (len(train), len(test)) == (3_668, 1_725) and all(e.text_b for e in train + test)
    assert len(read_examples(resolve_data("mrpc", "dev"))) == 408
    assert sum(e.label for e in train) == 2_474
