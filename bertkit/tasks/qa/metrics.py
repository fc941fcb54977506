"""SQuAD v1.1 exact match and F1, with the official evaluation script's answer normalisation:
lower-case, drop ASCII punctuation, drop the articles a / an / the, collapse whitespace. Each
question scores its best gold answer; the scores are averaged. Values are fractions in [0, 1]
(the official script prints them x100).
"""

from __future__ import annotations

import collections
import re
import string

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """The official normalisation (in its order: lower, punctuation, articles, whitespace)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Bag-of-words F1 between the normalised answers (0 when they share no token)."""
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(gold_answers, predictions) -> dict:
    """Averaged EM and F1.

    Args:
        gold_answers: per question, the list of gold answer texts (at least one).
        predictions: per question, the predicted answer text.

    Returns:
        `{"exact_match", "f1", "n"}`.
    """
    if len(gold_answers) != len(predictions):
        raise ValueError(f"{len(gold_answers)} questions but {len(predictions)} predictions.")
    em = f1 = 0.0
    for golds, pred in zip(gold_answers, predictions):
        if not golds:
            raise ValueError("a question has no gold answer.")
        em += max(exact_match(pred, g) for g in golds)
        f1 += max(token_f1(pred, g) for g in golds)
    n = len(predictions)
    return {"exact_match": em / n if n else 0.0, "f1": f1 / n if n else 0.0, "n": n}
