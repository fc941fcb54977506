"""Writes tests/golden/logreg.json: scikit-learn's LogisticRegression (the head SetFit fits) on seeded random
data, binary and 4-class, at C = 1 (SetFit's) and C = 100 (bertkit's few-shot head), for the few-shot head's solver to be compared against.

    /work/refenv/bin/python scripts/make_golden_logreg.py     # scikit-learn, outside bertkit's venv
"""

import json
import os

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def case(classes: int, seed: int, c: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(48, 12))
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # unit vectors, like normalised sentence embeddings
    labels = rng.integers(0, classes, size=48)
    x[np.arange(48), labels] += 0.5  # separable enough to learn, not separable outright
    model = LogisticRegression(C=c, max_iter=10_000, tol=1e-12).fit(x, labels)
    return {"classes": classes, "C": c, "x": x.tolist(), "labels": labels.tolist(), "coef": model.coef_.tolist(),
            "intercept": model.intercept_.tolist(), "probabilities": model.predict_proba(x).tolist()}


if __name__ == "__main__":
    data = {"sklearn": sklearn.__version__, "cases": [case(2, 0), case(4, 1), case(2, 2, 100.0), case(4, 3, 100.0)]}
    with open(os.path.join(ROOT, "tests", "golden", "logreg.json"), "w") as f:
        json.dump(data, f)
