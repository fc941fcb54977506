"""conlleval's chunk rules (`startOfChunk` / `endOfChunk` of the CoNLL shared tasks' Perl script) in plain
Python over tag strings, IOB1, IOB2 and IOBES alike: the reference the graph chunker
(`bertkit.tasks.ner.decode.chunk_entities`) is tested against. Its own correctness is pinned by
hand-worked cases in test_tasks_metrics.py (IOB1 vs IOB2, I- after O, type changes)."""


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
