"""Packing token ids into the encoder inputs with the family's template (`[CLS] a [SEP] (b [SEP])` for
BERT, `<s> a </s>(</s> b </s>)` for RoBERTa), truncated and padded.

Everything is vectorised ragged/dense ops over the batch (no py_function), so it runs inside
`tf.data.Dataset.map`, `tf.function` and serving signatures.

Truncation:
* sentence pairs: the official BERT `_truncate_seq_pair` (drop from the end of the longer
  sequence, of b on ties) to fit what the special ids leave (`max_seq_length - 3` for BERT);
* single texts, budget `max_seq_length` minus the special ids (`- 2` for BERT): "head" keeps the
  first tokens, "tail" the last, "head+tail" keeps `ceil(budget * head_fraction)` first tokens and
  fills the rest of the budget from the end (Sun et al. 2019, "How to Fine-Tune BERT for Text
  Classification?": 128 tokens + 382 for 512; 32 + 94 for 128).
"""

from __future__ import annotations

import math

import tensorflow as tf

from bertkit.core.config import TRUNCATIONS
from bertkit.core.errors import BertkitError
from bertkit.tokenization.base import Template


def pack_inputs(
    ids_a: tf.RaggedTensor,
    ids_b: tf.RaggedTensor | None,
    max_seq_length: int,
    *,
    template: Template | None = None,
    cls_id: int | None = None,
    sep_id: int | None = None,
    truncation: str = "head+tail",
    head_fraction: float = 0.25,
) -> dict[str, tf.Tensor]:
    """Builds `input_word_ids`, `input_mask`, `input_type_ids`, each int32 `[B, max_seq_length]`.

    Args:
        ids_a: first segment ids `[B, (n_a)]`, without special tokens.
        ids_b: second segment ids `[B, (n_b)]`, or None for single texts.
        max_seq_length: total length including the special ids; shorter rows are padded.
        template: the family's packing (`tokenizer.template`): `start a end` or `start a middle b end`.
        cls_id, sep_id: instead of `template`, the BERT packing `[CLS] a [SEP] (b [SEP])` with these ids.
        truncation: "head", "tail" or "head+tail", for single texts (pairs: longest-first).
        head_fraction: share of the budget kept from the start under "head+tail".

    Returns:
        The three encoder inputs; type ids are `template.type_b` on `b end`, the mask is 1 on real
        tokens. Special ids are never truncated: the budget is what they leave.
    """
    # Dense gathers rather than ragged concatenation: every output position `j` of row `i` works out
    # which token it holds, which is several times faster than concat + to_tensor.
    if template is None:
        template = Template.bert(cls_id, sep_id)
    n_start, n_middle, n_end = len(template.start), len(template.middle), len(template.end)
    _check_options(max_seq_length, truncation, head_fraction, template.specials(ids_b is not None))
    ids_a = _as_ids(ids_a)
    if ids_b is None:
        budget = max_seq_length - template.specials(False)
        head = {"head": budget, "tail": 0, "head+tail": math.ceil(budget * head_fraction)}[truncation]
        n_a = ids_a.row_lengths()  # [B]
        m_a = tf.minimum(n_a, budget)  # [B] tokens kept
        m_b = tf.zeros_like(m_a)
    else:
        ids_b = _as_ids(ids_b)
        head = max_seq_length  # pairs keep the start of each segment
        n_a, n_b = ids_a.row_lengths(), ids_b.row_lengths()  # [B]
        m_a, m_b = _truncate_pair_lengths(n_a, n_b, max_seq_length - template.specials(True))
    j = tf.range(tf.constant(max_seq_length, tf.int64))[tf.newaxis, :]  # [1, T] output positions
    m_a, m_b = m_a[:, tf.newaxis], m_b[:, tf.newaxis]  # [B, 1]
    k_a = j - n_start  # [1, T] position within the kept part of a
    in_a = (k_a >= 0) & (k_a < m_a)  # [B, T]
    # Kept token k of a: the k-th from the start while k < head, else counted back from the end.
    src_a = tf.where(k_a < head, k_a, n_a[:, tf.newaxis] - m_a + k_a)  # [B, T]
    word_ids = _gather_rows(ids_a, src_a, in_a)  # [B, T]
    after_a = j - n_start - m_a  # [B, T] position after a
    if ids_b is None:
        k_end = after_a
    else:
        k_b = after_a - n_middle  # [B, T]
        in_b = (k_b >= 0) & (k_b < m_b)
        word_ids += _gather_rows(ids_b, k_b, in_b)
        word_ids = _place(word_ids, template.middle, after_a)
        k_end = k_b - m_b
    word_ids = _place(_place(word_ids, template.start, j), template.end, k_end)
    total = n_start + m_a + (0 if ids_b is None else n_middle + m_b) + n_end  # [B, 1]
    real = j < total  # [B, T]
    type_ids = tf.zeros_like(word_ids)
    if ids_b is not None:
        type_ids = tf.where(real & (after_a >= n_middle), template.type_b, 0)
    return {
        "input_word_ids": tf.where(real, word_ids, template.pad),  # [B, T]
        "input_mask": tf.cast(real, tf.int32),  # [B, T]
        "input_type_ids": type_ids,  # [B, T]
    }


def _place(word_ids: tf.Tensor, ids: tuple[int, ...], k: tf.Tensor) -> tf.Tensor:
    """`word_ids` with `ids[k]` wherever `0 <= k < len(ids)` (`k` `[B, T]`)."""
    if not ids:
        return word_ids
    inside = (k >= 0) & (k < len(ids))  # [B, T]
    values = tf.gather(tf.constant(ids, tf.int32), tf.where(inside, k, 0))  # [B, T]
    return tf.where(inside, values, word_ids)


def _gather_rows(ids: tf.RaggedTensor, positions: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
    """`ids[i, positions[i, j]]` where `valid[i, j]`, else 0: int32 `[B, T]`."""
    flat_index = ids.row_splits[:-1, tf.newaxis] + positions  # [B, T]
    flat_index = tf.where(valid, flat_index, 0)
    values = tf.gather(tf.concat([ids.flat_values, [0]], axis=0), flat_index)  # [B, T]; [0] if empty
    return tf.where(valid, values, 0)


def _check_options(max_seq_length, truncation, head_fraction, minimum):
    if truncation not in TRUNCATIONS:
        raise BertkitError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}.")
    if not 0.0 <= head_fraction <= 1.0:
        raise BertkitError(f"head_fraction must be in [0, 1], got {head_fraction}.")
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
