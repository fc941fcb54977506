"""Entity-level precision / recall / F1 with the semantics of the CoNLL shared tasks' `conlleval`.

The entities of gold and predicted tags come from one chunker, `decode.chunk_entities` (conlleval's
`startOfChunk` / `endOfChunk` rules: an `I-X` after `O`, or after another type, starts an entity rather
than being dropped), the same that gives `predict` its entities. An entity is correct when the
predicted one has the same type and the same first and last word as a gold one. Sentences are scored
separately. Values are fractions in [0, 1]; conlleval prints them x100.
"""

from __future__ import annotations


def _prf(correct: int, found: int, gold: int) -> dict:
    p = correct / found if found else 0.0
    r = correct / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def conll_metrics(gold_sentences, pred_sentences, gold_entities, pred_entities) -> dict:
    """Scores predicted tags and entities against gold ones, as conlleval.

    Args:
        gold_sentences: list of gold tag lists (one per sentence).
        pred_sentences: list of predicted tag lists, aligned word by word.
        gold_entities, pred_entities: per sentence, its entities `(type, first word, end word)`.

    Returns:
        dict with precision, recall, f1 (entity level, micro over types), accuracy (tokens),
        n (sentences), tokens, gold_entities, predicted_entities, correct_entities, and per_class
        `{type: {precision, recall, f1, support}}` (support = gold entities of the type).
    """
    if not len(gold_sentences) == len(pred_sentences) == len(gold_entities) == len(pred_entities):
        raise ValueError(f"{len(gold_sentences)} gold sentences but {len(pred_sentences)} predicted.")
    counts: dict[str, list[int]] = {}  # type -> [correct, predicted, gold]
    tokens = right = 0
    for gold, pred, g_chunks, p_chunks in zip(gold_sentences, pred_sentences, gold_entities, pred_entities):
        if len(gold) != len(pred):
            raise ValueError(f"a sentence has {len(gold)} gold tags but {len(pred)} predicted.")
        tokens += len(gold)
        right += sum(g == p for g, p in zip(gold, pred))
        g_chunks, p_chunks = set(g_chunks), set(p_chunks)
        for kind, *_ in g_chunks:
            counts.setdefault(kind, [0, 0, 0])[2] += 1
        for chunk in p_chunks:
            c = counts.setdefault(chunk[0], [0, 0, 0])
            c[1] += 1
            c[0] += chunk in g_chunks
    correct, found, gold_n = (sum(c[k] for c in counts.values()) for k in range(3))
    out = {"n": len(gold_sentences), "tokens": tokens, **_prf(correct, found, gold_n),
           "accuracy": right / tokens if tokens else 0.0, "gold_entities": gold_n,
           "predicted_entities": found, "correct_entities": correct}
    out["per_class"] = {kind: {**_prf(*counts[kind]), "support": counts[kind][2]} for kind in sorted(counts)}
    return out


def predicted_entities(predictions: dict) -> list[list[tuple]]:
    """`(type, first word, end word)` of each predicted entity, per example."""
    return [list(zip(kinds, map(int, firsts), map(int, ends))) for kinds, firsts, ends in
            zip(predictions["entity_type"], predictions["entity_first_word"], predictions["entity_end_word"])]

