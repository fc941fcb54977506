"""Known answers for the task helpers: CoNLL scorer, SQuAD EM/F1, span decoder, windows, alignment,
multi-label and regression metrics. Pure Python / numpy, no model."""

import numpy as np
import pytest

from bertkit.data.conll import TokenExample, entity_types, to_bio
from bertkit.tasks.conll_metrics import chunks, conll_metrics
from bertkit.tasks.multilabel import label_set, multilabel_metrics
from bertkit.tasks.qa_features import Context, align_pieces, answer_pieces, best_spans, decode, split_words
from bertkit.tasks.regression import rankdata, regression_metrics
from bertkit.tasks.squad_metrics import exact_match, normalize_answer, squad_metrics, token_f1
from bertkit.batching import bucketed_order
from bertkit.tasks.token_features import max_context_span, windows


# --- CoNLL ---------------------------------------------------------------------------------------

def test_iob1_to_bio():
    assert to_bio(["I-ORG", "O", "I-MISC", "I-MISC", "B-MISC", "I-PER", "I-LOC"]) == \
        ["B-ORG", "O", "B-MISC", "I-MISC", "B-MISC", "B-PER", "B-LOC"]
    bio = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    assert to_bio(bio) == bio  # IOB2 unchanged
    assert entity_types(["B-PER", "O", "I-LOC", "B-PER"]) == ["LOC", "PER"]


def test_chunks_follow_conlleval():
    assert chunks(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert chunks(["I-PER", "I-PER", "O", "I-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]  # IOB1: same entities
    assert chunks(["B-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]
    assert chunks(["I-PER", "I-LOC", "I-LOC"]) == [("PER", 0, 1), ("LOC", 1, 3)]  # a type change splits
    assert chunks(["O", "I-ORG"]) == [("ORG", 1, 2)]  # a stray I- starts an entity, as in conlleval
    assert chunks(["O", "O"]) == []


def test_conll_scorer_on_hand_made_sequences():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-MISC", "I-MISC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-MISC", "O"]]
    m = conll_metrics(gold, pred)
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
    m = conll_metrics(gold, pred)
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(0.8)


def test_token_example_from_text_keeps_offsets():
    e = TokenExample.from_text("Peter Blackburn, of the U.S. (EU)")
    assert list(e.words) == ["Peter", "Blackburn", ",", "of", "the", "U.S", ".", "(", "EU", ")"]
    assert all(e.text[s:t] == w for w, (s, t) in zip(e.words, e.offsets))
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


def test_span_decoder_on_hand_made_logits():
    start = np.array([0.0, 5.0, 1.0, 0.0, 0.0])
    end = np.array([0.0, 1.0, 0.0, 6.0, 0.0])
    every = np.ones(5, bool)
    assert best_spans([(start, end, 0, every)], 20, 30)[0] == (11.0, 1, 3)
    assert best_spans([(start, end, 0, every)], 20, 2)[0] == (7.0, 2, 3)  # span 1-3 is 3 pieces: too long
    no_context = every.copy()
    no_context[2] = False
    assert best_spans([(start, end, 0, no_context)], 20, 2)[0] == (6.0, 1, 1)
    # two windows: positions are shifted by the window's start
    second = (np.array([9.0, 0.0]), np.array([0.0, 9.0]), 3, np.ones(2, bool))
    assert best_spans([(start, end, 0, every), second], 20, 30)[0] == (18.0, 3, 4)
    assert best_spans([(start, end, 0, every)], 1, 30) == [(11.0, 1, 3)]  # n_best per side


def test_decode_maps_pieces_to_original_text():
    text = "Denver Broncos won (1990),"
    ctx = Context(np.arange(6), np.array([0, 7, 15, 19, 20, 24]), np.array([6, 14, 18, 20, 24, 25]))
    answers = decode(text, ctx, [(3.0, 4, 4), (2.0, 0, 1), (1.0, 4, 4)], n_best=20)
    assert [a["text"] for a in answers] == ["1990", "Denver Broncos"]  # duplicates dropped
    assert (answers[0]["start"], answers[0]["end"]) == (20, 24)
    assert sum(a["probability"] for a in answers) == pytest.approx(1.0)
    assert decode(text, ctx, [], 20)[0]["text"] == ""


def test_piece_alignment_and_answer_pieces():
    assert align_pieces("(1990),", ["(", "1990", ")", ","], lower=True) == [(0, 1), (1, 5), (5, 6), (6, 7)]
    assert align_pieces("Broncos", ["bronco", "##s"], lower=True) == [(0, 6), (6, 7)]
    assert align_pieces("Café", ["cafe"], lower=True) == [(0, 4)]
    assert align_pieces("x\u00a7y", ["[UNK]"], lower=True) is None  # falls back to the whole word
    words, offsets = split_words(" Denver  Broncos\twon ")
    assert words == ["Denver", "Broncos", "won"] and offsets == [(1, 7), (9, 16), (17, 20)]
    ctx = Context(np.arange(4), np.array([0, 1, 5, 6]), np.array([1, 5, 6, 7]))
    assert answer_pieces(ctx, 1, 5) == (1, 1)
    assert answer_pieces(ctx, 0, 7) == (0, 3)


def test_windows_and_max_context():
    assert windows(10, 4, 2) == [(0, 4), (2, 4), (4, 4), (6, 4)]
    assert windows(3, 4, 2) == [(0, 3)]
    assert windows(0, 4, 2) == [(0, 0)]
    assert windows(10, 4, 8) == [(0, 4), (4, 4), (8, 2)]  # the stride never skips tokens
    spans = windows(10, 4, 2)
    assert max_context_span(spans, 3) == 1  # 3 left / 0 right in span 0, 1 / 2 in span 1
    assert max_context_span(spans, 0) == 0 and max_context_span(spans, 9) == 3


def test_bucketed_order_covers_every_row_once():
    lengths = np.random.default_rng(0).integers(1, 50, size=103)
    batches = bucketed_order(lengths, 8, np.random.default_rng(1))
    assert len(batches) == 13
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))


# --- multi-label and regression ------------------------------------------------------------------

def test_multilabel_metrics():
    gold = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    probs = np.array([[0.9, 0.2, 0.4], [0.1, 0.8, 0.7], [0.2, 0.1, 0.3]])
    m = multilabel_metrics(gold, probs, ["LOC", "MISC", "PER"])
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
    from bertkit.tasks.ner import CASES, word_case

    got = {w: CASES[word_case(w)] for w in ["bush", "Bush", "US", "I", "McDonald", "iPhone", "1996", "-", "U.S.",
                                            "Élan", "ÉLAN", "3rd"]}
    assert got == {"bush": "lower", "Bush": "title", "US": "upper", "I": "title", "McDonald": "mixed",
                   "iPhone": "mixed", "1996": "number", "-": "other", "U.S.": "upper", "Élan": "title",
                   "ÉLAN": "upper", "3rd": "lower"}


def test_conll_sentences_become_entity_counts():
    from bertkit.data import TokenExample
    from bertkit.tasks.regression import entity_counts

    e = TokenExample(("Bob", "Smith", "met", "Ann", "in", "New", "York", "London"),
                     ("I-PER", "I-PER", "O", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC"), "s1")
    (row,) = entity_counts([e])
    assert (row.text_a, row.label, row.guid) == ("Bob Smith met Ann in New York London", 4, "s1")
