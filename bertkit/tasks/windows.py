"""Sliding windows over long piece sequences, and which window "owns" each piece, as graph ops.

Shared by NER (a sentence, or a document's sentences, longer than what `max_seq_length` leaves
after the special ids) and QA
(a context longer than what the question leaves). Windows over `n` pieces hold at most `budget` pieces
and start `step = min(budget, stride)` apart, so every window but the last is full: the doc spans of
Google's `run_squad.py`. A piece is read from the window where it has the most context on its shorter
side (ties: the longer window, then the earlier), as `run_squad`'s `_check_is_max_context`.

`budget` and `step` may be scalars or one value per sequence.
"""

from __future__ import annotations

import tensorflow as tf


def window_count(n_pieces, budget, step):
    """int64 `[S]`: how many windows cover each sequence of `n_pieces` `[S]` (at least one)."""
    return 1 + tf.maximum(tf.zeros_like(n_pieces), (n_pieces - budget + step - 1) // step)


def plan_windows(n_pieces, budget, step) -> dict:
    """The windows of every sequence, laid end to end.

    Args:
        n_pieces: int64 `[S]`, pieces per sequence.
        budget, step: int64 scalars or `[S]`.

    Returns:
        `count` `[S]` windows per sequence; and per window `[Nw]`: `sequence` (its sequence), `k` (its
        index within the sequence), `start` (first piece, within the sequence) and `length`.
    """
    budget = tf.broadcast_to(tf.cast(budget, tf.int64), tf.shape(n_pieces))  # [S]
    step = tf.broadcast_to(tf.cast(step, tf.int64), tf.shape(n_pieces))  # [S]
    count = window_count(n_pieces, budget, step)  # [S]
    sequence = tf.repeat(tf.range(tf.size(count, out_type=tf.int64)), count)  # [Nw]
    k = tf.ragged.range(count).flat_values  # [Nw]
    start = k * tf.gather(step, sequence)  # [Nw]
    length = tf.minimum(tf.gather(n_pieces, sequence) - start, tf.gather(budget, sequence))  # [Nw]
    return {"count": count, "sequence": sequence, "k": k, "start": start, "length": length}


def max_context_owner(position, total, n_windows, budget, step):
    """The window in which each piece has the most context, in float64 as `run_squad`.

    Args:
        position: int64 `[N]`, each piece's position in its sequence.
        total, n_windows: int64 `[N]`, its sequence's piece count and window count.
        budget, step: int64 scalars or `[N]`, its sequence's window size and step.

    Returns:
        int64 `[N]`, the owning window's index within the sequence.
    """
    k = tf.range(tf.reduce_max(tf.concat([n_windows, [1]], 0)), dtype=tf.int64)[None, :]  # [1, Kw]
    p = position[:, None]  # [N, 1]
    start = k * tf.reshape(step, [-1, 1])  # [N or 1, Kw]
    length = tf.minimum(total[:, None] - start, tf.reshape(budget, [-1, 1]))  # [N, Kw]
    end = start + length - 1
    inside = (k < n_windows[:, None]) & (start <= p) & (p <= end)
    score = tf.cast(tf.minimum(p - start, end - p), tf.float64) + 0.01 * tf.cast(length, tf.float64)
    return tf.argmax(tf.where(inside, score, -float("inf")), axis=1)  # [N] first best


def window_values(values, plan: dict, sequence_starts):
    """The values of each window: `[Nw, (length)]`.

    Args:
        values: `[P]`, every sequence's values laid end to end.
        plan: from `plan_windows`.
        sequence_starts: int64 `[S]`, where each sequence begins in `values`.
    """
    begin = tf.gather(sequence_starts, plan["sequence"]) + plan["start"]  # [Nw]
    return tf.gather(values, tf.ragged.range(begin, begin + plan["length"]))  # [Nw, (length)]
