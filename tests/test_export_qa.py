"""QA's graph steps against their specification, and the raw-text SavedModel against `predict`.

Words and WordPiece character spans are compared with `reference_squad_spans.tokenize_contexts` on real
SQuAD contexts and on edge strings; the whole export with `BertkitModel.predict_scores` (every n-best answer:
text, offsets, score, probability) on a random QA model with the real bert-base-uncased vocabulary and
short windows, so that long contexts make many windows and the max-context rule and cross-window
deduplication matter; and in a fresh process that never imports bertkit.
"""

import json
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bertkit.core.config import TaskConfig
from bertkit.export.savedmodel import EXPORT_INFO, EXTRA, export_model
from bertkit.export.savedmodel import largest_difference
from bertkit.tasks.qa.encode import context_words
from tests.conftest import random_task_model, run_without_bertkit
from tests.reference_squad_spans import tokenize_contexts

TRICKY = ["", "   ", "naïve café ÉCOLE Ωmega ΣΑΣ ﬁne", "tab\there\u00a0nbsp\u2028ls\x1cfs \u202fnarrow",
          "é (e\u0301) ² ½ ٣ ª", "\u200b\ufeff zero-width \x00 nul \ufffd", "素晴らしい 🎬 ##x ### [UNK] İstanbul ß ǅ",
          "a" * 150 + " long-word", "Mn\u0301\u0302 alone: \u0301"]


@pytest.fixture(scope="module")
def squad(real_data_dir):
    return json.loads((real_data_dir / "squad" / "dev-v1.1.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def qa_model():
    config = TaskConfig(task="qa", labels=(), label_type="str", pooling="mean", is_pair=True,
                        extra={"doc_stride": 24, "max_query_length": 16, "n_best": 20, "max_answer_length": 30})
    return random_task_model(config, 64, head="span", max_positions=128)


def test_piece_spans_equal_the_python_on_real_contexts(squad, qa_model):
    tokenizer = qa_model.task.tokenizer
    contexts = [p["context"] for a in squad["data"] for p in a["paragraphs"]][:800] + TRICKY
    want = tokenize_contexts(tokenizer, contexts)
    chars, word_row, word_start, _ = context_words(tf.constant(contexts))
    ids = tf.cast(tokenizer(tf.strings.unicode_encode(chars, "UTF-8")), tf.int64)  # [N, (P)]
    start, end = tokenizer.piece_spans(chars, ids)
    word = ids.value_rowids().numpy()
    row = word_row.numpy()[word]
    offset = word_start.numpy()[word]
    got_ids, got_start, got_end = ids.flat_values.numpy(), offset + start.numpy(), offset + end.numpy()
    differ = [c[:60] for i, c in enumerate(contexts)
              if not (np.array_equal(got_ids[row == i], want[c].ids) and np.array_equal(got_start[row == i], want[c].starts)
                      and np.array_equal(got_end[row == i], want[c].ends))]
    assert differ == []
    assert len(got_ids) > 100_000
    # The edge strings exercise both alignments: pieces matched to characters, and whole-word spans.
    edges = np.isin(row, [contexts.index(t) for t in TRICKY])
    whole = (start.numpy() == 0) & (end.numpy() == chars.row_lengths().numpy()[word])
    assert (edges & whole).any() and (edges & ~whole).any()


def _pairs(squad, n_paragraphs):
    pairs = [(q["question"], p["context"]) for a in squad["data"][:6] for p in a["paragraphs"][:n_paragraphs]
             for q in p["qas"][:2]]
    return pairs + [("who?", ""), ("", "a b c"), ("naïve?", TRICKY[2] + " " + TRICKY[6]), ("x", "y"),
                    ("what\x00?", TRICKY[5]), ("long " * 40 + "?", "short context here")]


def test_qa_export_equals_predict(tmp_path, squad, qa_model):
    pairs = _pairs(squad, 6)
    assert len(qa_model.runner.features(pairs, with_labels=False)) > 4 * len(pairs)  # several windows each
    export_model(qa_model, tmp_path / "export")  # verify=True: reloaded, compared with predict_scores
    info = json.loads((tmp_path / "export" / EXTRA / EXPORT_INFO).read_text())
    assert info["task"] == "qa" and info["inputs"] == ["question", "context"] and info["n_best"] == 20
    fn = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    out = fn(question=tf.constant([q for q, _ in pairs]), context=tf.constant([c for _, c in pairs]))
    out = {k: v.numpy() for k, v in out.items()}
    want = qa_model.predictions(pairs)
    signature = qa_model.task.serving_signature()
    assert largest_difference(out, want, signature) <= 1e-5
    assert sum(len(n) for n in want["n_best_text"]) > 15 * len(pairs)  # most have the full 20 answers
    assert out["answer"][len(pairs) - 6] == b"" and out["probability"][len(pairs) - 6] == 1.0  # empty context
    # The check itself sees a changed answer offset and a changed probability.
    changed = dict(want, n_best_start=[s + (i == 0) for i, s in enumerate(want["n_best_start"])])
    assert largest_difference(out, changed, signature) == float("inf")
    changed = dict(want, probability=want["probability"] + 1e-3)
    assert 1e-4 < largest_difference(out, changed, signature) < 1e-2


FRESH = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # registers the ops; bertkit is not imported
    export_dir, pairs_file, out_file = sys.argv[1:]
    pairs = json.load(open(pairs_file, encoding="utf-8"))
    fn = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = fn(question=tf.constant([q for q, _ in pairs]), context=tf.constant([c for _, c in pairs]))
    json.dump({"answers": [[a.decode("utf-8"), int(s), int(e)] for a, s, e in
                           zip(out["answer"].numpy(), out["start"].numpy(), out["end"].numpy())],
               "bertkit_imported": any(m.split(".")[0] == "bertkit" for m in sys.modules)},
              open(out_file, "w"))
""")


def test_fresh_process_without_bertkit(tmp_path, squad, qa_model):
    export_model(qa_model, tmp_path / "export", verify=False)
    pairs = _pairs(squad, 2)
    (tmp_path / "pairs.json").write_text(json.dumps(pairs), encoding="utf-8")
    got = run_without_bertkit(tmp_path, FRESH, tmp_path / "export", tmp_path / "pairs.json")
    assert got["answers"] == [[p["answer"], p["start"], p["end"]] for p in qa_model.predict(pairs)]
