"""bertkit.metrics: hand-computed cases, then scikit-learn's answers from tests/golden (1e-9)."""

import json
from pathlib import Path

import numpy as np
import pytest

from bertkit.metrics import classification_metrics, format_metrics_table, mcc, roc_auc

GOLDEN = json.loads((Path(__file__).parent / "golden" / "metrics_sklearn.json").read_text(encoding="utf-8"))
TOL = 1e-9


def test_binary_by_hand():
    # pred = [1, 0, 1, 0]: tp = fp = fn = tn = 1.
    m = classification_metrics([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])
    assert (m["accuracy"], m["precision"], m["recall"], m["f1"], m["mcc"]) == (0.5, 0.5, 0.5, 0.5, 0.0)
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert m["auc"] == 0.75  # positive beats negative in 3 of 4 pairs
    assert m["auc_hard_labels"] == 0.5  # (TPR + TNR) / 2 on hard predictions, the tutorial's number
    assert m["n"] == 4 and m["num_classes"] == 2 and m["average"] == "binary" and m["notes"] == []


def test_binary_auc_counts_ties_as_half():
    # pairs (pos, neg): (0.5, 0.5) = 1/2, the other three = 1.
    assert classification_metrics([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8])["auc"] == 0.875


def test_roc_auc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(bool)
    s = rng.integers(0, 7, 300) / 7.0  # many ties
    diff = s[y][:, None] - s[~y][None, :]
    brute = ((diff > 0) + 0.5 * (diff == 0)).mean()
    assert abs(roc_auc(y, s) - brute) < 1e-12


def test_binary_two_column_probs_equal_one_column():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 50), rng.uniform(size=50)
    a = classification_metrics(y, p)
    b = classification_metrics(y, np.stack([1 - p, p], axis=1))
    assert a == b


def test_binary_perfect_and_names():
    m = classification_metrics([0, 1, 1], [0.1, 0.8, 0.7], labels=["neg", "pos"])
    assert m["auc"] == 1.0 and m["mcc"] == 1.0 and m["f1"] == 1.0
    assert m["positive_label"] == "pos" and set(m["per_class"]) == {"neg", "pos"}
    assert m["per_class"]["neg"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}


def test_one_gold_class_gives_no_auc_and_zero_mcc():
    m = classification_metrics([1, 1, 1], [0.9, 0.2, 0.7])  # pred [1, 0, 1]
    assert m["auc"] is None and m["auc_hard_labels"] is None
    assert "only class" in m["notes"][0]
    assert m["precision"] == 1.0 and abs(m["recall"] - 2 / 3) < 1e-15 and abs(m["f1"] - 0.8) < 1e-15
    assert m["mcc"] == 0.0


def test_never_predicting_positive_gives_zero_not_nan():
    m = classification_metrics([0, 1, 1], [0.1, 0.2, 0.3])
    assert (m["precision"], m["recall"], m["f1"], m["mcc"]) == (0.0, 0.0, 0.0, 0.0)


def test_multiclass_by_hand():
    probs = [[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]]  # pred [0, 2, 2, 1]
    m = classification_metrics([0, 1, 2, 2], probs, labels=["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert m["accuracy"] == 0.5 and m["average"] == "macro"
    assert m["precision"] == pytest.approx(0.5, abs=1e-15)  # (1 + 0 + 0.5) / 3
    assert m["mcc"] == pytest.approx(0.2, abs=1e-15)  # (2*4 - 6) / sqrt(10 * 10)
    # one-vs-rest: a 3/3, b 2/3, c 3/4
    assert m["per_class"]["b"]["auc"] == pytest.approx(2 / 3, abs=1e-15)
    assert m["auc"] == pytest.approx(29 / 36, abs=1e-15)
    assert m["per_class"]["c"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "auc": 0.75}


def test_mcc_of_empty_margin_is_zero():
    assert mcc(np.array([[3, 0], [0, 0]])) == 0.0


@pytest.mark.parametrize(
    "y, probs, match",
    [
        ([0, 1], [0.5], "shape"),
        ([0, 1], [0.5, float("nan")], "NaN"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], "outside"),
        ([], [], "non-empty"),
        ([0.5, 1], [0.2, 0.3], "integer"),
    ],
)
def test_bad_inputs(y, probs, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y, probs)


def test_result_is_json_and_table_is_readable():
    m = classification_metrics([0, 1, 2, 1], np.eye(3)[[0, 1, 2, 2]], labels=["x", "y", "z"])
    json.dumps(m)
    table = format_metrics_table(m)
    for text in ("accuracy", "f1 (macro)", "auc (macro)", "rows = gold", "per class", "support"):
        assert text in table
    binary = format_metrics_table(classification_metrics([0, 1], [0.2, 0.9], labels=["neg", "pos"]))
    assert "auc_hard_labels" in binary and "positive class = pos" in binary
    other = format_metrics_table({"n": 10, "exact_match": 0.5, "eval_seconds": 2.0})  # another task's dict
    assert "exact_match" in other and "eval_seconds" in other


@pytest.mark.parametrize("name", sorted(GOLDEN["cases"]))
def test_matches_sklearn_golden(name):
    case = GOLDEN["cases"][name]
    want = case["expected"]
    got = classification_metrics(case["y_true"], case["probs"])
    for key in ("accuracy", "precision", "recall", "f1", "auc", "mcc", "auc_hard_labels"):
        if key in want:
            assert abs(got[key] - want[key]) <= TOL, (key, got[key], want[key])
    assert got["confusion_matrix"] == want["confusion_matrix"]
    per = list(got["per_class"].values())
    for stat in ("precision", "recall", "f1"):
        np.testing.assert_allclose([c[stat] for c in per], want[f"per_class_{stat}"], rtol=0, atol=TOL)
    if "per_class_auc" in want:
        for c, w in zip(per, want["per_class_auc"]):
            assert (c["auc"] is None) if w is None else abs(c["auc"] - w) <= TOL
