"""Known answers for the task steps: CoNLL chunker and scorer, SQuAD EM/F1, span decoder, windows, alignment,
multi-label and regression metrics. No model."""

import numpy as np
import pytest

import tensorflow as tf

from bertkit.data.batching import bucketed_order
from bertkit.data.conll import TokenExample, entity_types, to_bio
from bertkit.tasks.multilabel.task import label_set, multilabel_metrics
from bertkit.tasks.ner.decode import chunk_entities
from bertkit.tasks.ner.metrics import conll_metrics
from bertkit.tasks.ner.words import CASES, case_ids, split_words
from bertkit.tasks.qa.decode import decode_qa
from bertkit.tasks.qa.encode import context_words, encode_qa
from bertkit.tasks.qa.metrics import exact_match, normalize_answer, squad_metrics, token_f1
from bertkit.tasks.regression.task import rankdata, regression_metrics
from bertkit.tasks.windows import max_context_owner, plan_windows
from tests.reference_conlleval import chunks

@pytest.fixture(scope="module")
def tokenizer():
    from pathlib import Path

    from bertkit.tokenization import Tokenizer
    from bertkit.weights import default_model_path

    return Tokenizer(Path(default_model_path()) / "vocab.txt", True)


TAGS = ("O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER")


def entities(sentences):
    """The graph chunker on tag strings (converted to BIO, as bertkit does): per sentence (type, first, end)."""
    index = {t: i for i, t in enumerate(TAGS)}
    ids = tf.ragged.constant([[index[t] for t in to_bio(s)] for s in sentences], dtype=tf.int64, ragged_rank=1)
    out = [[] for _ in sentences]
    types = [""] + entity_types(TAGS)
    for s, a, b, k in zip(*(x.numpy() for x in chunk_entities(ids, TAGS))):
        out[s].append((types[k], int(a), int(b)))
    return out


def scored(gold, pred):
    return conll_metrics(gold, pred, entities(gold), entities(pred))


# --- CoNLL ---------------------------------------------------------------------------------------

def test_iob1_to_bio():
    assert to_bio(["I-ORG", "O", "I-MISC", "I-MISC", "B-MISC", "I-PER", "I-LOC"]) == \
        ["B-ORG", "O", "B-MISC", "I-MISC", "B-MISC", "B-PER", "B-LOC"]
    bio = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    assert to_bio(bio) == bio  # IOB2 unchanged
    assert entity_types(["B-PER", "O", "I-LOC", "B-PER"]) == ["LOC", "PER"]


@pytest.mark.parametrize("chunker", [lambda s: chunks(s), lambda s: entities([s])[0]], ids=["reference", "graph"])
def test_chunks_follow_conlleval(chunker):
    assert chunker(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert chunker(["I-PER", "I-PER", "O", "I-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]  # IOB1: same entities
    assert chunker(["B-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]
    assert chunker(["I-PER", "I-LOC", "I-LOC"]) == [("PER", 0, 1), ("LOC", 1, 3)]  # a type change splits
    assert chunker(["O", "I-ORG"]) == [("ORG", 1, 2)]  # a stray I- starts an entity, as in conlleval
    assert chunker(["O", "O"]) == []


def test_graph_chunker_on_invalid_bio():  # a model's tags need not be valid BIO
    index = {t: i for i, t in enumerate(TAGS)}
    ids = tf.ragged.constant([[index[t] for t in ("I-PER", "B-LOC", "I-PER", "O", "I-ORG", "I-ORG")]], dtype=tf.int64)
    got = [(int(a), int(b), int(k)) for _, a, b, k in zip(*(x.numpy() for x in chunk_entities(ids, TAGS)))]
    types = entity_types(TAGS)
    assert [(types[k - 1], a, b) for a, b, k in got] == chunks(["I-PER", "B-LOC", "I-PER", "O", "I-ORG", "I-ORG"])


def test_conll_scorer_on_hand_made_sequences():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-MISC", "I-MISC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-MISC", "O"]]
    m = scored(gold, pred)
    # entities: gold PER LOC MISC(2 words); predicted PER ORG MISC(1 word); only PER is right.
    assert (m["correct_entities"], m["predicted_entities"], m["gold_entities"]) == (1, 3, 3)
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(1 / 3)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["per_class"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert m["per_class"]["ORG"]["support"] == 0 and m["per_class"]["LOC"]["recall"] == 0.0


def test_conll_scorer_unequal_precision_and_recall():
    gold = [["B-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG"]]
    pred = [["B-PER", "O", "B-LOC", "O", "O", "O"]]
    m = scored(gold, pred)
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(0.8)


def test_raw_text_words_keep_offsets():
    text = "Peter Blackburn, of the U.S. (EU) – Zürich"
    got = split_words(tf.constant([text]))
    words = [w.decode() for w in got["words"][0].numpy()]
    assert words == ["Peter", "Blackburn", ",", "of", "the", "U.S", ".", "(", "EU", ")", "–", "Zürich"]
    spans = zip(got["char_start"][0].numpy(), got["char_end"][0].numpy())
    assert [text[s:e] for s, e in spans] == words  # character offsets, though "–" and "ü" take 2-3 bytes
    pre = TokenExample(("EU", "rejects"), ("B-ORG", "O"))
    assert pre.text == "EU rejects" and pre.offsets == ((0, 2), (3, 10))


# --- SQuAD ---------------------------------------------------------------------------------------

def test_official_normalisation():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a day") == "apple day"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words
    assert normalize_answer("(1990)") == "1990"


def test_em_and_f1():
    assert exact_match("the Broncos", "Broncos.") == 1.0
    assert token_f1("Denver Broncos", "the Broncos") == pytest.approx(2 / 3)
    assert token_f1("Carolina", "Denver") == 0.0
    m = squad_metrics([["Denver Broncos", "Broncos"], ["1990"]], ["broncos", "in 1990"])
    assert m["exact_match"] == pytest.approx(0.5)  # max over the gold answers
    assert m["f1"] == pytest.approx((1.0 + 2 / 3) / 2) and m["n"] == 2


def _decode(windows, text, spans, n_best=20, max_answer_length=30):
    """decode_qa on hand-made windows of one question: `windows` = [(start logits, end logits, first piece,
    owned mask)] over context pieces with character `spans`."""
    length = max(len(w[0]) for w in windows)
    logits = np.full((len(windows), length, 2), -1e4, np.float32)
    owner = np.zeros(len(spans), np.int64)
    for k, (s, e, first, owned) in enumerate(windows):
        logits[k, :len(s), 0], logits[k, :len(e), 1] = s, e
        owner[first:first + len(s)][owned] = k
    meta = {"context": tf.constant([text]), "n": tf.constant(1, tf.int64),
            "window_row": tf.zeros(len(windows), tf.int64), "window_k": tf.range(len(windows), dtype=tf.int64),
            "window_start": tf.constant([w[2] for w in windows], tf.int64),
            "window_length": tf.constant([len(w[0]) for w in windows], tf.int64),
            "window_offset": tf.zeros(len(windows), tf.int64),
            "window_base": tf.constant([w[2] for w in windows], tf.int64), "owner": tf.constant(owner),
            "piece_start": tf.constant([a for a, _ in spans], tf.int64),
            "piece_end": tf.constant([b for _, b in spans], tf.int64), "piece_splits": tf.constant([0, len(spans)], tf.int64)}
    out = decode_qa(tf.constant(logits), meta, n_best=n_best, max_answer_length=max_answer_length)
    return [(t.decode(), float(s)) for t, s in zip(out["n_best_text"][0].numpy(), out["n_best_score"][0].numpy())]


TEXT = "p0 p1 p2 p3 p4"
SPANS = [(3 * i, 3 * i + 2) for i in range(5)]  # piece i is "p<i>"


def test_span_decoder_on_hand_made_logits():
    start = np.array([0.0, 5.0, 1.0, 0.0, 0.0])
    end = np.array([0.0, 1.0, 0.0, 6.0, 0.0])
    every = np.ones(5, bool)
    assert _decode([(start, end, 0, every)], TEXT, SPANS)[0] == ("p1 p2 p3", 11.0)
    assert _decode([(start, end, 0, every)], TEXT, SPANS, max_answer_length=2)[0] == ("p2 p3", 7.0)  # 1-3 too long
    no_context = every.copy()
    no_context[2] = False  # piece 2 is read from another window: no answer starts there
    assert _decode([(start, end, 0, no_context), (np.zeros(1), np.zeros(1), 2, np.ones(1, bool))], TEXT, SPANS,
                   max_answer_length=2)[0] == ("p1", 6.0)
    # two windows: the second starts at piece 3 and owns pieces 3 and 4
    first = (start[:5], end[:5], 0, np.array([True, True, True, False, False]))
    second = (np.array([9.0, 0.0]), np.array([0.0, 9.0]), 3, np.ones(2, bool))
    assert _decode([first, second], TEXT, SPANS)[0] == ("p3 p4", 18.0)
    assert _decode([(start, end, 0, every)], TEXT, SPANS, n_best=1) == [("p1 p2 p3", 11.0)]  # n_best per side


def test_decode_drops_duplicate_texts_and_gives_probabilities():
    text = "Denver Broncos won (1990),"
    spans = [(0, 6), (7, 14), (15, 18), (19, 20), (20, 24), (24, 25)]
    s = np.array([0.0, 0.0, 0.0, 0.0, 3.0, 0.0])
    e = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    got = _decode([(s, e, 0, np.ones(6, bool))], text, spans)
    assert got[0] == ("1990", 3.0) and len({t for t, _ in got}) == len(got)  # "1990" from (4, 4) only once
    assert _decode([(np.zeros(0), np.zeros(0), 0, np.ones(0, bool))], "", [])  == []


def test_piece_spans_and_training_labels(tokenizer):
    words = tf.constant(["(1990),", "Tokenizers", "Café", "x\U0001F3A5y"])
    chars = tf.strings.unicode_decode(words, "UTF-8")
    ids = tf.cast(tokenizer(words), tf.int64)
    start, end = tokenizer.piece_spans(chars, ids)
    spans = list(zip(start.numpy().tolist(), end.numpy().tolist()))
    pieces = [tokenizer.convert_ids_to_tokens(r) for r in ids.numpy()]
    assert pieces[:3] == [["(", "1990", ")", ","], ["token", "##izer", "##s"], ["cafe"]]
    assert spans[:8] == [(0, 1), (1, 5), (5, 6), (6, 7), (0, 5), (5, 9), (9, 10), (0, 4)]
    assert set(spans[8:]) == {(0, 3)}  # "x🎥y" is one [UNK]: a piece that does not spell its word spans all of it
    chars, _, first, _ = context_words(tf.constant([" Denver  Broncos\twon "]))
    assert [c.decode() for c in tf.strings.unicode_encode(chars, "UTF-8").numpy()] == ["Denver", "Broncos", "won"]
    assert first.numpy().tolist() == [1, 9, 17]
    context = "Denver Tokenizers won it."
    out = encode_qa(tokenizer, tf.constant(["who won?"]), tf.constant([context]), max_seq_length=32,
                    max_query_length=8, doc_stride=8, answer_start=tf.constant([7], tf.int64),
                    answer_end=tf.constant([17], tf.int64))
    row = out["rows"]["input_word_ids"][0].numpy()
    a, b = out["labels"][0].numpy()
    assert tokenizer.convert_ids_to_tokens(row[a:b + 1]) == ["token", "##izer", "##s"]


def test_windows_and_max_context():
    def spans(n, budget, stride):
        plan = plan_windows(tf.constant([n], tf.int64), budget, min(budget, stride))
        return list(zip(plan["start"].numpy().tolist(), plan["length"].numpy().tolist()))

    assert spans(10, 4, 2) == [(0, 4), (2, 4), (4, 4), (6, 4)]
    assert spans(3, 4, 2) == [(0, 3)]
    assert spans(0, 4, 2) == [(0, 0)]
    assert spans(10, 4, 8) == [(0, 4), (4, 4), (8, 2)]  # the stride never skips tokens
    owner = max_context_owner(tf.constant([3, 0, 9], tf.int64), tf.constant([10] * 3, tf.int64),
                              tf.constant([4] * 3, tf.int64), tf.constant(4, tf.int64), tf.constant(2, tf.int64))
    assert owner.numpy().tolist() == [1, 0, 3]  # 3: 3 left / 0 right in window 0, 1 / 2 in window 1


def test_bucketed_order_covers_every_row_once():
    lengths = np.random.default_rng(0).integers(1, 50, size=103)
    batches = bucketed_order(lengths, 8, np.random.default_rng(1))
    assert len(batches) == 13
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))


# --- multi-label and regression ------------------------------------------------------------------

def test_multilabel_metrics():
    gold = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    probs = np.array([[0.9, 0.2, 0.4], [0.1, 0.8, 0.7], [0.2, 0.1, 0.3]])
    m = multilabel_metrics(gold, probs > 0.5, ["LOC", "MISC", "PER"])
    # predicted {LOC}, {MISC, PER}, {}: tp 2, fp 1, fn 1
    assert m["micro_precision"] == pytest.approx(2 / 3) and m["micro_recall"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    assert m["subset_accuracy"] == pytest.approx(1 / 3) and m["hamming_loss"] == pytest.approx(2 / 9)
    assert m["per_class"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_label_set_cells():
    assert label_set(["PER", "LOC"], "x") == ["PER", "LOC"]
    assert label_set("PER|LOC", "x") == ["PER", "LOC"] and label_set("[]", "x") == []
    with pytest.raises(Exception, match="f.jsonl:3"):
        label_set(None, "f.jsonl:3")


def test_regression_metrics():
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.5])
    assert m["spearman"] == pytest.approx(1.0) and 0.99 < m["pearson"] < 1.0
    assert m["mae"] == pytest.approx((1 + 2 + 3 + 4.5) / 4)
    m = regression_metrics([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    assert m["pearson"] == pytest.approx(-1.0) and m["spearman"] == pytest.approx(-1.0)
    assert regression_metrics([1.0, 2.0], [5.0, 5.0])["pearson"] is None


def test_word_case_classes():
    words = ["bush", "Bush", "US", "I", "McDonald", "iPhone", "1996", "-", "U.S.", "Élan", "ÉLAN", "3rd"]
    got = {w: CASES[k] for w, k in zip(words, case_ids(tf.constant(words)).numpy())}
    assert got == {"bush": "lower", "Bush": "title", "US": "upper", "I": "title", "McDonald": "mixed",
                   "iPhone": "mixed", "1996": "number", "-": "other", "U.S.": "upper", "Élan": "title",
                   "ÉLAN": "upper", "3rd": "lower"}


def test_conll_sentences_become_entity_counts():
    from bertkit.data import TokenExample
    from bertkit.tasks.regression.task import entity_counts

    e = TokenExample(("Bob", "Smith", "met", "Ann", "in", "New", "York", "London"),
                     ("I-PER", "I-PER", "O", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC"), "s1")
    (row,) = entity_counts([e])
    assert (row.text_a, row.label, row.guid) == ("Bob Smith met Ann in New York London", 4, "s1")
