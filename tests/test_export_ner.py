"""NER's graph steps against their specifications, and the raw-text SavedModel against `predict`.

The word splitter and casing classes (RE2 and tf ops) are compared on real text (CoNLL-2003, IMDB,
SST-2) with their definitions in Python's `re` and `unicodedata` below; the chunker with conlleval's
rules on random tag sequences; the whole export with `BertkitModel.predict` on a tiny NER model with the
real bert-base-uncased vocabulary (random head, so all kinds of tag sequences occur), with and without
case features, with sentences longer than one window, and in a fresh process that never imports bertkit.
"""

import json
import random
import re
import textwrap
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bertkit.core.config import TaskConfig
from bertkit.data.conll import read_conll
from bertkit.export.savedmodel import EXPORT_INFO, EXTRA, export_model
from bertkit.tasks.ner.decode import chunk_entities
from bertkit.tasks.ner.words import CASES, case_ids, split_words
from tests.conftest import random_task_model, run_without_bertkit
from tests.reference_conlleval import chunks

# The definitions: a run of word characters (inner . ' & - kept) or any other non-space character;
# casing classes by Unicode general category.
WORD = re.compile(r"[^\W_](?:[\w.'&-]*[^\W_])?|\S")


def word_case(word: str) -> int:
    categories = [unicodedata.category(c) for c in word]
    letters = [c for c in categories if c[0] == "L"]
    if not letters:
        return CASES.index("number") if "Nd" in categories else CASES.index("other")
    if all(c == "Ll" for c in letters):
        return CASES.index("lower")
    if all(c == "Lu" for c in letters):
        return CASES.index("upper") if len(letters) > 1 else CASES.index("title")
    if letters[0] == "Lu" and all(c == "Ll" for c in letters[1:]):
        return CASES.index("title")
    return CASES.index("mixed")

LABELS = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
TRICKY = ["", "   ", "EU rejects German call to boycott British lamb.", "U.S. stocks rose 1.5% on Mon.--Tue.",
          "Ça m'a plu — 素晴らしい 🎬 x_y _a a_", "tab\there\u00a0nbsp\u2028ls\x1cfs", "é (e\u0301) ² ½ ٣ ª",
          "McDonald's iPhone ǅemal ÉCOLE Éva", "\u200b\ufeff zero-width \x00 nul"]


@pytest.fixture(scope="module")
def real_texts(real_data_dir) -> list[str]:
    sentences = read_conll(real_data_dir / "conll2003" / "eng.testb")
    texts = [" ".join(s.words) for s in sentences[:1500]]
    for name, n in (("imdb/test.jsonl", 400), ("sst2/test.jsonl", 400)):
        with open(real_data_dir / name, encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for _, line in zip(range(n), f)]
    return texts + TRICKY


def test_words_offsets_and_casing_equal_the_python_on_real_text(real_texts):
    split = split_words(tf.constant(real_texts))
    words, starts, ends = split["words"], split["char_start"], split["char_end"]
    cases = case_ids(words.flat_values).numpy()
    k = 0
    differ = []
    for i, text in enumerate(real_texts):
        want = list(WORD.finditer(text))
        got = [w.decode("utf-8") for w in words[i].numpy()]
        spans = list(zip(starts[i].numpy().tolist(), ends[i].numpy().tolist()))
        if got != [m.group() for m in want] or spans != [m.span() for m in want]:
            differ.append(text)
        for m in want[:len(got)]:
            if cases[k] != word_case(m.group()):
                differ.append(f"case of {m.group()!r}: {CASES[cases[k]]} != {CASES[word_case(m.group())]}")
            k += 1
    assert k == len(cases) > 50_000
    assert differ == []


def test_chunks_equal_conlleval_on_random_tags():
    rng = random.Random(0)
    sentences = [[rng.choice(LABELS) for _ in range(rng.randrange(0, 12))] for _ in range(400)]
    index = {t: i for i, t in enumerate(LABELS)}
    ids = tf.ragged.constant([[index[t] for t in s] for s in sentences], dtype=tf.int64, ragged_rank=1)
    sentence, first, stop, kind = (x.numpy() for x in chunk_entities(ids, LABELS))
    types = ["", "LOC", "PER"]
    got = [[] for _ in sentences]
    for s, a, b, t in zip(sentence, first, stop, kind):
        got[s].append((types[t], a, b))
    assert got == [chunks(s) for s in sentences]
    assert sum(map(len, got)) > 500


def _random_ner_model(tmp_path: Path, case_features: str, max_seq_length: int = 16):
    """A NER model: random tiny encoder with the real vocabulary and a random head (no training)."""
    config = TaskConfig(task="ner", labels=LABELS, label_type="str", pooling="mean",
                        extra={"scheme": "BIO", "stride": 0, "case_features": case_features})
    return random_task_model(config, max_seq_length, head="classifier")  # larger logits: confident, varied tags


def _rows(out, i):
    """One text's outputs without the batch padding."""
    n = int((out["word_start"][i] >= 0).sum())
    e = int((out["entity_start"][i] >= 0).sum())
    entities = [{"text": out["entity_text"][i][j].decode("utf-8"), "type": out["entity_type"][i][j].decode(),
                 "start": int(out["entity_start"][i][j]), "end": int(out["entity_end"][i][j]),
                 "score": float(out["entity_score"][i][j])} for j in range(e)]
    return {"words": [w.decode("utf-8") for w in out["words"][i][:n]], "tags": [t.decode() for t in out["tags"][i][:n]],
            "entities": entities, "probabilities": out["tag_probabilities"][i][:n]}


def _assert_same(got, model, texts):
    want, scores = model.predict(texts), model.predict_scores(texts)
    assert sum(len(w["entities"]) for w in want) > 10
    for i, (w, s) in enumerate(zip(want, scores)):
        row = _rows(got, i)
        assert row["words"] == w["words"] and row["tags"] == w["tags"]
        np.testing.assert_allclose(row["probabilities"], s, atol=1e-5)
        assert [{k: v for k, v in e.items() if k != "score"} for e in row["entities"]] == \
               [{k: v for k, v in e.items() if k != "score"} for e in w["entities"]]
        np.testing.assert_allclose([e["score"] for e in row["entities"]], [e["score"] for e in w["entities"]],
                                   atol=1e-5)


@pytest.mark.parametrize("case_features", ["on", "off"])
def test_ner_export_equals_predict(tmp_path, case_features, real_texts):
    model = _random_ner_model(tmp_path, case_features)
    texts = real_texts[:40] + real_texts[1500:1503] + TRICKY  # CoNLL sentences, IMDB reviews (many windows)
    assert len(model.runner.features(texts, with_labels=False)) > len(texts) + 10  # long texts: several windows
    export_model(model, tmp_path / "export")  # verify=True: reloaded, compared with predict_scores
    info = json.loads((tmp_path / "export" / EXTRA / EXPORT_INFO).read_text())
    assert info["task"] == "ner" and info["labels"] == list(LABELS) and info["entity_types"] == ["LOC", "PER"]
    fn = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    out = {k: v.numpy() for k, v in fn(text=tf.constant(texts)).items()}
    _assert_same(out, model, texts)


FRESH = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # registers the ops; bertkit is not imported
    export_dir, texts_file, out_file = sys.argv[1:]
    texts = json.load(open(texts_file, encoding="utf-8"))
    out = tf.saved_model.load(export_dir).signatures["serving_default"](text=tf.constant(texts))
    out = {k: v.numpy() for k, v in out.items()}
    json.dump({"outputs": {k: [[x.decode("utf-8") if isinstance(x, bytes) else x for x in row]
                               for row in v.tolist()] for k, v in out.items() if k != "tag_probabilities"},
               "bertkit_imported": any(m.split(".")[0] == "bertkit" for m in sys.modules)},
              open(out_file, "w"))
""")


def test_fresh_process_without_bertkit(tmp_path, real_texts):
    model = _random_ner_model(tmp_path, "on", max_seq_length=24)
    export_model(model, tmp_path / "export", verify=False)
    texts = real_texts[:20] + TRICKY
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    got = run_without_bertkit(tmp_path, FRESH, tmp_path / "export", tmp_path / "texts.json")
    want = model.predict(texts)
    o = got["outputs"]
    for i, w in enumerate(want):
        n = sum(1 for x in o["entity_start"][i] if x >= 0)
        assert [(o["entity_text"][i][j], o["entity_type"][i][j], o["entity_start"][i][j], o["entity_end"][i][j])
                for j in range(n)] == [(e["text"], e["type"], e["start"], e["end"]) for e in w["entities"]]
