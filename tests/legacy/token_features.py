"""Shared by the token and span tasks (NER, QA): pre-split words -> WordPiece ids and sliding windows
with "max context". Batching with dynamic padding is `bertkit.batching`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

WORD_CHUNK = 16384  # words per tokenizer call


def word_pieces(tokenizer, words) -> list[np.ndarray]:
    """WordPiece ids of each word (each distinct word tokenized once): a list of int32 arrays.

    A word is tokenized alone, which gives the same pieces as in running text: BERT's basic
    tokenizer splits on whitespace before anything else.
    """
    words = list(words)
    distinct = list(dict.fromkeys(words))
    pieces: dict[str, np.ndarray] = {}
    for i in range(0, len(distinct), WORD_CHUNK):
        chunk = distinct[i:i + WORD_CHUNK]
        ids = tokenizer(tf.constant(chunk, tf.string))  # [W, (pieces)]
        values, splits = ids.flat_values.numpy().astype(np.int32), ids.row_splits.numpy()
        pieces.update(zip(chunk, np.split(values, splits[1:-1])))
    return [pieces[w] for w in words]


def windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int]]:
    """`(start, length)` spans covering `n_tokens` with at most `window` tokens each, the next span
    starting `min(length, stride)` later (the official run_squad doc spans); at least one span."""
    window = max(1, window)
    spans, start = [], 0
    while True:
        length = min(n_tokens - start, window)
        spans.append((start, length))
        if start + length >= n_tokens:
            return spans
        start += min(length, max(1, stride))


def max_context_span(spans, position: int) -> int:
    """Index of the span in which `position` has the most context on its shorter side (ties: the
    longer span, then the earlier), as run_squad's `_check_is_max_context`."""
    best, best_score = 0, None
    for k, (start, length) in enumerate(spans):
        end = start + length - 1
        if start <= position <= end:
            score = min(position - start, end - position) + 0.01 * length
            if best_score is None or score > best_score:
                best, best_score = k, score
    return best


