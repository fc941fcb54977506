"""QA answers from the start and end logits, as graph ops, after Google's `run_squad.py`.

1. Per window, the `n_best` highest start and end logits over its context pieces (`top_k` puts ties at
   the lower position); a pair is a candidate when end >= start, it has at most `max_answer_length`
   pieces and its start piece has its maximum context in that window.
2. Per question, the candidates in score order (start + end logit; ties keep window, start rank, end
   rank order), the answer text cut from the context by the pieces' character spans, the first
   `n_best` distinct texts, and a float64 softmax of their scores.
"""

from __future__ import annotations

import tensorflow as tf

ROW_KEY_WIDTH = 12  # digits of the question number put before an answer text to deduplicate per question


def _candidates(logits, meta: dict, n_best: int, max_answer_length: int) -> dict:
    """Every kept (start, end) pair: its question `row`, `score`, and first / last context piece `[M]`."""
    length, offset = meta["window_length"], meta["window_offset"]  # [Nw]
    positions = tf.ragged.range(length)  # [Nw, (len)]
    window_of = tf.cast(positions.value_rowids(), tf.int64)  # [sum len]
    at = tf.stack([window_of, positions.flat_values + tf.gather(offset, window_of)], axis=1)
    dense = positions.with_flat_values(tf.gather_nd(logits, at)).to_tensor(-float("inf"))  # [Nw, L, 2]
    top = tf.minimum(tf.cast(n_best, tf.int32), tf.shape(dense)[1])
    s_val, s_pos = tf.math.top_k(dense[:, :, 0], k=top)  # [Nw, n]
    e_val, e_pos = tf.math.top_k(dense[:, :, 1], k=top)
    s_pos, e_pos = tf.cast(s_pos, tf.int64), tf.cast(e_pos, tf.int64)
    piece = tf.gather(meta["window_base"], window_of) + positions.flat_values  # [sum len] context piece index
    is_owner = positions.with_flat_values(
        tf.gather(meta["owner"], piece) == tf.gather(meta["window_k"], window_of)).to_tensor(False)  # [Nw, L]
    s_ok = (s_pos < length[:, None]) & tf.gather(is_owner, s_pos, batch_dims=1)  # [Nw, n]
    e_ok = e_pos < length[:, None]
    s, e = s_pos[:, :, None], e_pos[:, None, :]  # [Nw, n, 1], [Nw, 1, n]
    keep = s_ok[:, :, None] & e_ok[:, None, :] & (e >= s) & (e - s + 1 <= max_answer_length)  # [Nw, n, n]
    score = s_val[:, :, None] + e_val[:, None, :]  # float32
    shape = tf.shape(keep, out_type=tf.int64)
    flat_keep = tf.reshape(keep, [-1])
    window = tf.boolean_mask(tf.repeat(tf.range(shape[0]), shape[1] * shape[2]), flat_keep)  # [M]
    w_start = tf.gather(meta["window_start"], window)
    return {"row": tf.gather(meta["window_row"], window),  # [M], non-decreasing
            "score": tf.boolean_mask(tf.reshape(score, [-1]), flat_keep),
            "first": tf.boolean_mask(tf.reshape(tf.broadcast_to(s, shape), [-1]), flat_keep) + w_start,
            "last": tf.boolean_mask(tf.reshape(tf.broadcast_to(e, shape), [-1]), flat_keep) + w_start}


def decode_qa(logits, meta: dict, *, n_best: int, max_answer_length: int) -> dict:
    """The best answer and the n-best distinct answers of each question.

    Args:
        logits: float32 `[Nw, T, 2]` start and end logits of the rows.
        meta: `encode_qa`'s meta.

    Returns:
        `[B]`: `answer` ("" when there is none), `start`, `end` (characters of the context), `score`,
        `probability`; ragged `[B, (<= n_best)]`: `n_best_text`, `n_best_start`, `n_best_end`,
        `n_best_score`, `n_best_probability`, best first.
    """
    n = meta["n"]
    cand = _candidates(logits, meta, n_best, max_answer_length)
    # Per question in score order; top_k keeps equal scores in their original order.
    by_row = tf.RaggedTensor.from_value_rowids(cand["score"], cand["row"], nrows=n)  # [B, (M)]
    dense_scores = by_row.to_tensor(-float("inf"))  # [B, Mmax]
    _, order = tf.math.top_k(dense_scores, k=tf.shape(dense_scores)[1])
    order = tf.RaggedTensor.from_tensor(tf.cast(order, tf.int64), lengths=by_row.row_lengths())
    sorted_index = (order + by_row.row_starts()[:, None]).flat_values  # [M] into the candidates
    row = tf.gather(cand["row"], sorted_index)
    splits = meta["piece_splits"]
    first_char = tf.gather(meta["piece_start"], tf.gather(splits, row) + tf.gather(cand["first"], sorted_index))
    end_char = tf.gather(meta["piece_end"], tf.gather(splits, row) + tf.gather(cand["last"], sorted_index))
    text = tf.strings.substr(tf.gather(meta["context"], row), first_char, end_char - first_char, unit="UTF8_CHAR")

    # Distinct texts per question, the first n_best of them.
    key = tf.strings.join([tf.strings.as_string(row, width=ROW_KEY_WIDTH, fill="0"), text])
    _, which = tf.unique(key, out_idx=tf.int64)
    place = tf.range(tf.size(key, out_type=tf.int64))
    first_seen = tf.math.unsorted_segment_min(place, which, tf.reduce_max(tf.concat([which, [-1]], 0)) + 1)
    distinct = tf.gather(first_seen, which) == place  # [M]
    seen = tf.cumsum(tf.cast(distinct, tf.int64), exclusive=True)  # [M], rows are contiguous
    rank = seen - tf.gather(seen, tf.gather(by_row.row_starts(), row))  # within its row
    chosen = distinct & (rank < n_best)

    def pick(x):  # [M] -> [B, (<= n_best)]
        return tf.RaggedTensor.from_value_rowids(tf.boolean_mask(x, chosen), tf.boolean_mask(row, chosen), nrows=n)

    scores = pick(tf.gather(cand["score"], sorted_index))
    s64 = tf.cast(scores, tf.float64)
    exp = tf.exp(s64 - tf.reduce_max(s64, axis=1)[:, None])
    probability = tf.cast(exp / tf.reduce_sum(exp, axis=1)[:, None], tf.float32)
    texts, starts, ends = pick(text), tf.cast(pick(first_char), tf.int32), tf.cast(pick(end_char), tf.int32)
    found = texts.row_lengths() > 0  # [B]; none: "" at 0 with probability 1

    def best(x, default):  # [B, (n)] -> [B], the first of each row or `default`
        return tf.where(found, x.to_tensor(default, shape=[None, 1])[:, 0], default)

    return {"answer": best(texts, ""), "start": best(starts, 0), "end": best(ends, 0), "score": best(scores, 0.0),
            "probability": best(probability, 1.0), "n_best_text": texts, "n_best_start": starts,
            "n_best_end": ends, "n_best_score": scores, "n_best_probability": probability}
