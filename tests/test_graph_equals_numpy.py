"""Proof, on real data, that the one graph path equals the numpy code it replaces (tests/legacy/, bertkit at
e500e48): NER windows, labels, casing and read-back on all of CoNLL-2003 eng.train (with and without
document context); QA windows and labels on all of SQuAD dev-v1.1 and its n-best decoding on random
logits; NER tags and conlleval entities on eng.testb; classification probabilities.

This file exists for the commit that deletes the numpy twins: it runs there, then goes with them."""

import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).parent))

from legacy import conll_metrics as old_conll  # noqa: E402
from legacy import ner_featurize as old_ner  # noqa: E402
from legacy import qa_features as old_qa  # noqa: E402

from bertkit.core.config import PreprocessConfig, TaskConfig  # noqa: E402
from bertkit.data.conll import read_conll, to_bio  # noqa: E402
from bertkit.data.squad import read_squad  # noqa: E402
from bertkit.tasks import get_task_class  # noqa: E402
from bertkit.tasks.base import numpy_rows  # noqa: E402
from bertkit.tasks.runner import TaskRunner, merge, to_numpy  # noqa: E402
from bertkit.tokenization import Tokenizer  # noqa: E402
from bertkit.weights import default_model_path  # noqa: E402

pytestmark = pytest.mark.slow
LABELS = ("O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER")


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(Path(default_model_path()) / "vocab.txt", True)


def ner_task(tokenizer, max_seq_length, document_context):
    config = TaskConfig(task="ner", labels=LABELS, extra={"scheme": "BIO", "stride": 0, "case_features": "on",
                                                          "document_context": document_context})
    return get_task_class("ner")(config, PreprocessConfig(max_seq_length=max_seq_length), tokenizer)


def graph_ner(task, examples):
    """Rows, cases, labels, and each word's read-back (window, position) from the graph path."""
    rows, cases, labels, where, offset = [], [], [], [], 0
    for _, _, columns in task.chunks(examples, True):
        enc = task.encode(columns)
        rows += numpy_rows(enc["rows"]["input_word_ids"])
        cases += numpy_rows(enc["rows"]["input_case_ids"])
        labels += numpy_rows(enc["labels"])
        meta = enc["meta"]
        has = meta["has_piece"].numpy()
        where += [(int(w) + offset, int(p)) if h else None
                  for w, p, h in zip(meta["window"].numpy(), meta["position"].numpy(), has)]
        offset = len(rows)
    return rows, cases, labels, where


@pytest.mark.parametrize("document_context,max_seq_length", [("off", 128), ("on", 128), ("on", 32)])
def test_ner_features_equal_numpy_on_conll_train(real_data_dir, tokenizer, document_context, max_seq_length):
    examples = read_conll(real_data_dir / "conll2003" / "eng.train")
    task = ner_task(tokenizer, max_seq_length, document_context)
    index = {t: i for i, t in enumerate(LABELS)}
    tag_ids = [[index[t] for t in to_bio(e.tags)] for e in examples]
    old_rows, old_cases, old_labels, owned, _ = old_ner.featurize(
        examples, tokenizer, tag_ids, max_seq_length, 0, document_context == "on")
    rows, cases, labels, where = graph_ner(task, examples)
    assert len(rows) == len(old_rows) > 3_000  # 14,041 sentences; ~3,600 windows of whole documents
    for a, b in ((rows, old_rows), (cases, old_cases), (labels, old_labels)):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    old_where = [None] * len(where)
    for window, own in enumerate(owned):
        for pos in np.nonzero(own >= 0)[0]:
            old_where[own[pos]] = (window, int(pos))
    assert where == old_where


def test_ner_decode_equals_numpy_on_conll_testb(real_data_dir, tokenizer):
    examples = read_conll(real_data_dir / "conll2003" / "eng.testb")
    task = ner_task(tokenizer, 128, "off")
    rng = np.random.default_rng(0)
    old_rows, _, _, owned, word_start = old_ner.featurize(examples, tokenizer, [[0] * len(e.words) for e in examples],
                                                          128, 0, False)
    logits = [rng.normal(size=(len(r), len(LABELS))).astype(np.float32) * 3 for r in old_rows]
    probs = old_ner.word_probabilities(logits, owned, int(word_start[-1]), len(LABELS))
    old_probs = np.split(probs, word_start[1:-1])
    decoded, start = [], 0
    for _, _, columns in task.chunks(examples, False):
        enc = task.encode(columns)
        n = int(enc["rows"]["input_word_ids"].nrows())
        padded = np.zeros((n, max(len(x) for x in logits[start:start + n]), len(LABELS)), np.float32)
        for i, x in enumerate(logits[start:start + n]):
            padded[i, :len(x)] = x
        decoded.append(to_numpy(task.decode(tf.constant(padded), enc["meta"])))
        start += n
    got = merge(decoded)
    assert start == len(old_rows)
    entities_differ = 0
    for i, e in enumerate(examples):
        np.testing.assert_allclose(got["tag_probabilities"][i], old_probs[i], atol=1e-6)
        tags = [LABELS[k] for k in old_probs[i].argmax(axis=1)]
        assert list(got["tags"][i]) == tags
        old_entities = old_conll.chunks(tags)
        new_entities = list(zip(got["entity_type"][i], got["entity_first_word"][i], got["entity_end_word"][i]))
        entities_differ += [(k, int(a), int(b)) for k, a, b in new_entities] != old_entities
    assert entities_differ == 0 and sum(len(x) for x in got["entity_type"]) > 5_000


def squad_task(tokenizer):
    config = TaskConfig(task="qa", is_pair=True, extra={"doc_stride": 128, "max_query_length": 64, "n_best": 20,
                                                        "max_answer_length": 30})
    return get_task_class("qa")(config, PreprocessConfig(max_seq_length=256), tokenizer)


def test_qa_features_and_decode_equal_numpy_on_squad(real_data_dir, tokenizer):
    examples = read_squad(real_data_dir / "squad" / "dev-v1.1.json")
    task = squad_task(tokenizer)
    old = old_qa.qa_features(examples, tokenizer, 256, max_query_length=64, doc_stride=128, with_labels=True)
    features = TaskRunner(task).features(examples)
    assert len(features) == len(old["word_ids"]) > 10_000
    assert all(np.array_equal(a, b) for a, b in zip(features.word_ids, old["word_ids"]))
    assert all(np.array_equal(a, b) for a, b in zip(features.type_ids, old["type_ids"]))
    np.testing.assert_array_equal(features.labels, old["labels"])

    part = examples[:1500]  # n-best decoding on random logits
    old = old_qa.qa_features(part, tokenizer, 256, max_query_length=64, doc_stride=128, with_labels=False)
    rng = np.random.default_rng(1)
    logits = [rng.normal(size=(len(r), 2)).astype(np.float32) * 4 for r in old["word_ids"]]
    meta = old["meta"]
    per_example = [[] for _ in part]
    for f, x in enumerate(logits):
        off, length = meta["doc_offset"][f], meta["span_length"][f]
        per_example[meta["example"][f]].append((x[off:off + length, 0], x[off:off + length, 1], meta["span_start"][f],
                                                meta["max_context"][f]))
    expected = [old_qa.decode(e.context, meta["contexts"][e.context], old_qa.best_spans(w, 20, 30), 20)
                for e, w in zip(part, per_example)]
    decoded, start = [], 0
    for _, _, columns in task.chunks(part, False):
        enc = task.encode(columns)
        n = int(enc["rows"]["input_word_ids"].nrows())
        padded = np.zeros((n, max(len(x) for x in logits[start:start + n]), 2), np.float32)
        for i, x in enumerate(logits[start:start + n]):
            padded[i, :len(x)] = x
        decoded.append(to_numpy(task.decode(tf.constant(padded), enc["meta"])))
        start += n
    got = task.scores(merge(decoded))
    for g, want in zip(got, expected):
        assert [(a["text"], a["start"], a["end"]) for a in g] == [(a["text"], a["start"], a["end"]) for a in want]
        np.testing.assert_allclose([a["score"] for a in g], [a["score"] for a in want], rtol=1e-6)
        np.testing.assert_allclose([a["probability"] for a in g], [a["probability"] for a in want], atol=1e-6)


def test_classify_probabilities_equal_numpy(tokenizer):
    rng = np.random.default_rng(2)
    for labels in (("0", "1"), ("a", "b", "c")):
        task = get_task_class("classify")(TaskConfig(labels=labels), PreprocessConfig(), tokenizer)
        logits = rng.normal(size=(5000, 1 if len(labels) == 2 else 3)).astype(np.float32) * 4
        got = task.decode(tf.constant(logits), {})["probabilities"].numpy()
        if len(labels) == 2:  # the old ClassifyTask.probabilities, in float64
            p = 1.0 / (1.0 + np.exp(-logits[:, 0].astype(np.float64)))
            want = np.stack([1.0 - p, p], axis=1)
        else:
            z = np.exp(logits - logits.max(axis=1, keepdims=True)).astype(np.float64)
            want = z / z.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(got, want, atol=1e-6)
