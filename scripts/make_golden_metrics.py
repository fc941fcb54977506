"""Writes tests/golden/metrics_sklearn.json: scikit-learn's answers on seeded random cases.

tests/test_metrics.py checks bertkit.metrics against this file at 1e-9. scikit-learn is needed only
here, never by bertkit:

    pip install scikit-learn && python scripts/make_golden_metrics.py

The prediction rule is bertkit's: [N] probs -> 1 where p > 0.5; [N, K] probs -> argmax.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn import metrics as skm

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "metrics_sklearn.json"


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_cases(rng: np.random.Generator) -> dict:
    """name -> (y_true [N], probs [N] or [N, K]). Rounding makes tied scores on purpose."""
    cases = {}
    y = rng.integers(0, 2, 200)
    cases["binary_1d_ties"] = (y, np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).round(2))
    y = rng.integers(0, 2, 150)
    cases["binary_2d"] = (y, _softmax(rng.normal(size=(150, 2)) + np.eye(2)[y]))
    y = rng.integers(0, 2, 120)
    cases["binary_3_levels"] = (y, rng.choice([0.1, 0.5, 0.9], size=120))  # 0.5 predicts class 0
    y = (rng.random(200) < 0.1).astype(int)
    cases["binary_imbalanced"] = (y, np.clip(rng.normal(0.3 + 0.25 * y, 0.15), 0, 1).round(3))
    y = rng.integers(0, 2, 60)
    cases["binary_never_positive"] = (y, rng.uniform(0.0, 0.49, 60).round(2))  # precision 0/0 -> 0
    y = rng.integers(0, 3, 300)
    cases["multi_3"] = (y, _softmax(rng.normal(size=(300, 3)) + 1.2 * np.eye(3)[y]))
    y = rng.integers(0, 5, 400)
    cases["multi_5_ties"] = (y, _softmax(rng.normal(size=(400, 5)) + np.eye(5)[y]).round(2))
    y = rng.integers(0, 4, 200)
    logits = rng.normal(size=(200, 4)) + 1.5 * np.eye(4)[y]
    logits[:, 3] -= 10.0  # class 3 is never predicted: its precision is 0/0 -> 0
    cases["multi_4_never_predicts_3"] = (y, _softmax(logits))
    y = rng.choice([0, 1, 3], size=150)  # class 2 absent from gold; macro auc over gold classes only
    cases["multi_4_gold_lacks_2"] = (y, _softmax(rng.normal(size=(150, 4)) + np.eye(4)[y]))
    return cases


def expected(y: np.ndarray, p: np.ndarray) -> dict:
    k = 2 if p.ndim == 1 else p.shape[1]
    pred = (p > 0.5).astype(int) if p.ndim == 1 else p.argmax(axis=1)
    per = skm.precision_recall_fscore_support(y, pred, labels=list(range(k)), zero_division=0)
    out = {
        "accuracy": skm.accuracy_score(y, pred),
        "mcc": skm.matthews_corrcoef(y, pred),
        "confusion_matrix": skm.confusion_matrix(y, pred, labels=list(range(k))).tolist(),
        "per_class_precision": per[0].tolist(),
        "per_class_recall": per[1].tolist(),
        "per_class_f1": per[2].tolist(),
    }
    if k == 2:
        scores = p if p.ndim == 1 else p[:, 1]
        prf = skm.precision_recall_fscore_support(y, pred, average="binary", pos_label=1, zero_division=0)
        out.update(precision=prf[0], recall=prf[1], f1=prf[2], auc=skm.roc_auc_score(y, scores))
        out["auc_hard_labels"] = skm.roc_auc_score(y, pred)
        return out
    prf = skm.precision_recall_fscore_support(y, pred, average="macro", zero_division=0)  # labels: gold | pred
    gold = sorted(set(y.tolist()))
    per_auc = {c: skm.roc_auc_score(y == c, p[:, c]) for c in gold}
    out.update(precision=prf[0], recall=prf[1], f1=prf[2], auc=float(np.mean(list(per_auc.values()))))
    out["per_class_auc"] = [per_auc.get(c) for c in range(k)]
    if len(gold) == k and np.allclose(p.sum(axis=1), 1.0):
        ovr = skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
        assert abs(ovr - out["auc"]) < 1e-12, (ovr, out["auc"])  # the per-class mean is sklearn's ovr
    return out


def main():
    cases = make_cases(np.random.default_rng(20240611))
    golden = {
        "generator": "scripts/make_golden_metrics.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": {
            name: {"y_true": y.tolist(), "probs": p.tolist(), "expected": expected(y, p)}
            for name, (y, p) in cases.items()
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
