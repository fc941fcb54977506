"""`token_features.windows` and `max_context_span` as graph ops, shared by the NER and QA exports.

Windows over `n` pieces hold at most `budget` pieces and start `step = min(budget, stride)` apart;
every window but the last is full. `budget` and `step` may be scalars or one value per sequence.
"""

from __future__ import annotations

import tensorflow as tf


def window_count(n_pieces, budget, step):
    """int64 `[B]`: how many windows cover each sequence of `n_pieces` `[B]` (at least one)."""
    return 1 + tf.maximum(tf.zeros_like(n_pieces), (n_pieces - budget + step - 1) // step)


def max_context_owner(position, total, n_windows, budget, step):
    """The window in which each piece has the most context (ties: the longer, then the earlier), in
    float64 as the Python.

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
