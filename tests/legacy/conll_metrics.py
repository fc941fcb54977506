"""Entity-level precision / recall / F1 with the semantics of the CoNLL shared tasks' `conlleval`.

A chunk (entity) starts and ends where conlleval's `startOfChunk` / `endOfChunk` say, so IOB1 and
IOB2 tags give the same entities, and an `I-X` after `O` (or after another type) starts an entity
rather than being dropped. An entity is correct when the predicted one has the same type and the
same first and last word as a gold one. Sentences are scored separately (a sentence boundary ends
every entity). Values are fractions in [0, 1]; conlleval prints them x100.
"""

from __future__ import annotations


def _split(tag: str) -> tuple[str, str]:
    if tag == "O" or "-" not in tag:
        return tag, ""
    prefix, kind = tag.split("-", 1)
    return prefix, kind


def _end_of_chunk(prev: str, tag: str, prev_type: str, kind: str) -> bool:
    if prev in ("E", "S") and tag in ("B", "I", "E", "S", "O"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != "O" and prev != "." and prev_type != kind


def _start_of_chunk(prev: str, tag: str, prev_type: str, kind: str) -> bool:
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev in ("O", "E", "S"):
        return True
    return tag != "O" and tag != "." and prev_type != kind


def chunks(tags) -> list[tuple[str, int, int]]:
    """Entities of one sentence as `(type, first word, last word + 1)`, in order."""
    out, start = [], None
    prev, prev_type = "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):  # a final "O" closes an open entity
        prefix, kind = _split(tag)
        if start is not None and _end_of_chunk(prev, prefix, prev_type, kind):
            out.append((prev_type, start, i))
            start = None
        if _start_of_chunk(prev, prefix, prev_type, kind):
            start = i
        prev, prev_type = prefix, kind
    return out


def _prf(correct: int, found: int, gold: int) -> dict:
    p = correct / found if found else 0.0
    r = correct / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def conll_metrics(gold_sentences, pred_sentences) -> dict:
    """Scores predicted tag sequences against gold ones, as conlleval.

    Args:
        gold_sentences: list of gold tag lists (one per sentence).
        pred_sentences: list of predicted tag lists, aligned word by word.

    Returns:
        dict with precision, recall, f1 (entity level, micro over types), accuracy (tokens),
        n (sentences), tokens, gold_entities, predicted_entities, correct_entities, and per_class
        `{type: {precision, recall, f1, support}}` (support = gold entities of the type).
    """
    if len(gold_sentences) != len(pred_sentences):
        raise ValueError(f"{len(gold_sentences)} gold sentences but {len(pred_sentences)} predicted.")
    counts: dict[str, list[int]] = {}  # type -> [correct, predicted, gold]
    tokens = right = 0
    for gold, pred in zip(gold_sentences, pred_sentences):
        if len(gold) != len(pred):
            raise ValueError(f"a sentence has {len(gold)} gold tags but {len(pred)} predicted.")
        tokens += len(gold)
        right += sum(g == p for g, p in zip(gold, pred))
        g_chunks, p_chunks = set(chunks(gold)), set(chunks(pred))
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
