"""Packing WordPiece ids into the encoder inputs: `[CLS] a [SEP] (b [SEP])`, truncated and padded.

Everything is vectorised ragged/dense ops over the batch (no py_function), so it runs inside
`tf.data.Dataset.map`, `tf.function` and serving signatures.

Truncation:
* sentence pairs: the official BERT `_truncate_seq_pair` (drop from the end of the longer
  sequence, of b on ties) to fit `max_seq_length - 3`;
* single texts, budget `max_seq_length - 2`: "head" keeps the first tokens, "tail" the last,
  "head+tail" keeps `ceil(budget * head_fraction)` first tokens and fills the rest of the budget
  from the end (Sun et al. 2019, "How to Fine-Tune BERT for Text Classification?": 128 tokens
  + 382 for 512; 32 + 94 for 128).
"""

from __future__ import annotations

import math

import tensorflow as tf

from bertkit.core.config import TRUNCATIONS
from bertkit.core.errors import BertkitError


def pack_inputs(
    ids_a: tf.RaggedTensor,
    ids_b: tf.RaggedTensor | None,
    max_seq_length: int,
    *,
    cls_id: int,
    sep_id: int,
    truncation: str = "head+tail",
    head_fraction: float = 0.25,
) -> dict[str, tf.Tensor]:
    """Builds `input_word_ids`, `input_mask`, `input_type_ids`, each int32 `[B, max_seq_length]`.

    Args:
        ids_a: first segment ids `[B, (n_a)]`, without special tokens.
        ids_b: second segment ids `[B, (n_b)]`, or None for single texts.
        max_seq_length: total length including [CLS] and [SEP]s; shorter rows are padded with 0.
        cls_id, sep_id: ids of [CLS] and [SEP].
        truncation: "head", "tail" or "head+tail", for single texts (pairs: longest-first).
        head_fraction: share of the budget kept from the start under "head+tail".

    Returns:
        The three encoder inputs; type ids are 1 on `b [SEP]`, the mask is 1 on real tokens.
    """
    # Dense gathers rather than ragged concatenation: every output position `j` of row `i` works out
    # which token it holds, which is several times faster than concat + to_tensor.
    _check_options(max_seq_length, truncation, head_fraction, is_pair=ids_b is not None)
    ids_a = _as_ids(ids_a)
    if ids_b is None:
        budget = max_seq_length - 2
        head = {"head": budget, "tail": 0, "head+tail": math.ceil(budget * head_fraction)}[truncation]
        n_a = ids_a.row_lengths()  # [B]
        m_a = tf.minimum(n_a, budget)  # [B] tokens kept
        total = m_a + 2  # [B]
    else:
        ids_b = _as_ids(ids_b)
        head = max_seq_length  # pairs keep the start of each segment
        n_a, n_b = ids_a.row_lengths(), ids_b.row_lengths()  # [B]
        m_a, m_b = _truncate_pair_lengths(n_a, n_b, max_seq_length - 3)
        total = m_a + m_b + 3  # [B]
    length = tf.constant(max_seq_length, tf.int64)

    j = tf.range(length)[tf.newaxis, :]  # [1, T] output positions
    k_a = j - 1  # [1, T] position within the kept part of a
    in_a = (k_a >= 0) & (k_a < m_a[:, tf.newaxis])  # [B, T]
    # Kept token k of a: the k-th from the start while k < head, else counted back from the end.
    src_a = tf.where(k_a < head, k_a, n_a[:, tf.newaxis] - m_a[:, tf.newaxis] + k_a)  # [B, T]
    word_ids = _gather_rows(ids_a, src_a, in_a)  # [B, T]
    sep_a = j == m_a[:, tf.newaxis] + 1  # [B, T]
    type_ids = tf.zeros_like(word_ids)
    if ids_b is not None:
        k_b = j - m_a[:, tf.newaxis] - 2  # [B, T]
        in_b = (k_b >= 0) & (k_b < m_b[:, tf.newaxis])
        word_ids += _gather_rows(ids_b, k_b, in_b)
        sep_b = k_b == m_b[:, tf.newaxis]
        word_ids = tf.where(sep_b, sep_id, word_ids)
        type_ids = tf.cast(in_b | sep_b, tf.int32)
    word_ids = tf.where(j == 0, cls_id, tf.where(sep_a, sep_id, word_ids))
    return {
        "input_word_ids": word_ids,  # [B, T]
        "input_mask": tf.cast(j < total[:, tf.newaxis], tf.int32),  # [B, T]
        "input_type_ids": type_ids,  # [B, T]
    }


def _gather_rows(ids: tf.RaggedTensor, positions: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
    """`ids[i, positions[i, j]]` where `valid[i, j]`, else 0: int32 `[B, T]`."""
    flat_index = ids.row_splits[:-1, tf.newaxis] + positions  # [B, T]
    flat_index = tf.where(valid, flat_index, 0)
    values = tf.gather(tf.concat([ids.flat_values, [0]], axis=0), flat_index)  # [B, T]; [0] if empty
    return tf.where(valid, values, 0)


def _check_options(max_seq_length, truncation, head_fraction, is_pair):
    if truncation not in TRUNCATIONS:
        raise BertkitError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}.")
    if not 0.0 <= head_fraction <= 1.0:
        raise BertkitError(f"head_fraction must be in [0, 1], got {head_fraction}.")
    minimum = 3 if is_pair else 2
    if max_seq_length < minimum:
        raise BertkitError(f"max_seq_length must be at least {minimum}, got {max_seq_length}.")


def _as_ids(ids: tf.RaggedTensor) -> tf.RaggedTensor:
    return tf.cast(ids, tf.int32).with_row_splits_dtype(tf.int64)


def _truncate_pair_lengths(n_a: tf.Tensor, n_b: tf.Tensor, budget: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Kept lengths of the official `_truncate_seq_pair`: pop from the longer (b on ties) until
    `n_a + n_b <= budget`.

    Closed form of that loop: the lengths meet at `ceil(budget / 2)` for a and `floor(budget / 2)`
    for b, unless the other side is short enough to leave more; a pair that fits is unchanged.
    """
    budget = tf.constant(budget, tf.int64)
    keep_a = tf.minimum(n_a, tf.maximum((budget + 1) // 2, budget - n_b))  # [B]
    keep_b = tf.minimum(n_b, tf.maximum(budget // 2, budget - n_a))  # [B]
    return keep_a, keep_b
