"""pack_inputs: exact positions, type ids, mask and padding against plain-Python packing."""

import math
import random

import pytest
import tensorflow as tf

from bertkit.core.errors import BertkitError
from bertkit.tokenization.base import Template
from bertkit.tokenization.packing import pack_inputs
from tests.reference_wordpiece import truncate_seq_pair

CLS, SEP = 101, 102


def reference_pack(a, b, max_seq_length, truncation="head+tail", head_fraction=0.25):
    """Python packing: `_truncate_seq_pair` for pairs, head/tail slicing for single texts."""
    a, b = list(a), None if b is None else list(b)
    if b is None:
        budget = max_seq_length - 2
        if len(a) > budget:
            head = {"head": budget, "tail": 0, "head+tail": math.ceil(budget * head_fraction)}[truncation]
            a = a[:head] + (a[len(a) - (budget - head):] if budget > head else [])
        tokens, types = [CLS] + a + [SEP], [0] * (len(a) + 2)
    else:
        truncate_seq_pair(a, b, max_seq_length - 3)
        tokens = [CLS] + a + [SEP] + b + [SEP]
        types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    pad = max_seq_length - len(tokens)
    return tokens + [0] * pad, [1] * len(tokens) + [0] * pad, types + [0] * pad


def random_rows(rng, n, max_len):
    return [[rng.randint(1, 99) for _ in range(rng.randint(0, max_len))] for _ in range(n)]


def check(out, rows_a, rows_b, max_seq_length, **kwargs):
    for i, a in enumerate(rows_a):
        words, mask, types = reference_pack(a, None if rows_b is None else rows_b[i], max_seq_length, **kwargs)
        assert out["input_word_ids"][i].numpy().tolist() == words
        assert out["input_mask"][i].numpy().tolist() == mask
        assert out["input_type_ids"][i].numpy().tolist() == types


def test_pairs_longest_first():
    rng = random.Random(0)
    for max_seq_length in (3, 4, 9, 16, 25):
        rows_a, rows_b = random_rows(rng, 40, 20), random_rows(rng, 40, 20)
        out = pack_inputs(tf.ragged.constant(rows_a, tf.int32), tf.ragged.constant(rows_b, tf.int32),
                          max_seq_length, cls_id=CLS, sep_id=SEP)
        assert all(v.dtype == tf.int32 and v.shape == (40, max_seq_length) for v in out.values())
        check(out, rows_a, rows_b, max_seq_length)


@pytest.mark.parametrize("truncation", ["head", "tail", "head+tail"])
@pytest.mark.parametrize("head_fraction", [0.0, 0.25, 0.5, 1.0])
def test_single_truncation(truncation, head_fraction):
    rng = random.Random(1)
    rows = random_rows(rng, 30, 30) + [[], list(range(1, 11))]
    for max_seq_length in (2, 3, 8, 12):
        out = pack_inputs(tf.ragged.constant(rows, tf.int32, ragged_rank=1), None, max_seq_length,
                          cls_id=CLS, sep_id=SEP, truncation=truncation, head_fraction=head_fraction)
        check(out, rows, None, max_seq_length, truncation=truncation, head_fraction=head_fraction)


def test_head_tail_positions():
    """Sun et al. 2019: a budget of 126 keeps the first 32 and the last 94 tokens."""
    row = list(range(1, 501))
    ids = pack_inputs(tf.ragged.constant([row]), None, 128, cls_id=CLS, sep_id=SEP)["input_word_ids"][0].numpy()
    assert ids.tolist() == [CLS] + row[:32] + row[-94:] + [SEP]
    tail = pack_inputs(tf.ragged.constant([row]), None, 8, cls_id=CLS, sep_id=SEP, truncation="tail")
    assert tail["input_word_ids"][0].numpy().tolist() == [CLS, 495, 496, 497, 498, 499, 500, SEP]


def test_in_graph_and_empty_batch():
    rows_a, rows_b = [[5, 6, 7], [8]], [[9], [10, 11, 12, 13]]

    def encode(a, b):
        return pack_inputs(a, b, 6, cls_id=CLS, sep_id=SEP)

    ds = tf.data.Dataset.from_tensor_slices((tf.ragged.constant(rows_a), tf.ragged.constant(rows_b)))
    ds = ds.batch(2).map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    out = next(iter(ds))
    check(out, rows_a, rows_b, 6)
    f = tf.function(encode)
    check(f(tf.ragged.constant(rows_a), tf.ragged.constant(rows_b)), rows_a, rows_b, 6)
    empty = tf.ragged.constant([], tf.int32, ragged_rank=1)
    assert pack_inputs(empty, None, 8, cls_id=CLS, sep_id=SEP)["input_word_ids"].shape == (0, 8)


def test_bad_options():
    ids = tf.ragged.constant([[1]])
    with pytest.raises(BertkitError, match="truncation"):
        pack_inputs(ids, None, 8, cls_id=CLS, sep_id=SEP, truncation="middle")
    with pytest.raises(BertkitError, match="head_fraction"):
        pack_inputs(ids, None, 8, cls_id=CLS, sep_id=SEP, head_fraction=1.5)
    with pytest.raises(BertkitError, match="max_seq_length"):
        pack_inputs(ids, ids, 2, cls_id=CLS, sep_id=SEP)


def reference_template_pack(a, b, max_seq_length, template):
    """Python packing with any template: `start a end` or `start a middle b end`, longest-first."""
    a, b = list(a), None if b is None else list(b)
    if b is None:
        a = a[:max_seq_length - template.specials(False)]
        tokens, types = [*template.start, *a, *template.end], [0] * (len(a) + template.specials(False))
    else:
        truncate_seq_pair(a, b, max_seq_length - template.specials(True))
        head = [*template.start, *a, *template.middle]
        tokens = head + b + [*template.end]
        types = [0] * len(head) + [template.type_b] * (len(b) + len(template.end))
    pad = max_seq_length - len(tokens)
    return tokens + [template.pad] * pad, [1] * len(tokens) + [0] * pad, types + [0] * pad


@pytest.mark.parametrize("template", [Template.roberta(0, 2, 1), Template((7, 8), (), (9,), 2, 5)],
                         ids=["roberta", "odd"])
def test_templates(template):
    """RoBERTa's `<s> a </s></s> b </s>` (all type 0, pad 1) and an odd template; specials never cut."""
    rng = random.Random(2)
    for max_seq_length in (template.specials(True), 5, 9, 16):
        rows_a, rows_b = random_rows(rng, 30, 12), random_rows(rng, 30, 12)
        pairs = pack_inputs(tf.ragged.constant(rows_a, tf.int32), tf.ragged.constant(rows_b, tf.int32),
                            max_seq_length, template=template)
        single = pack_inputs(tf.ragged.constant(rows_a, tf.int32), None, max_seq_length, template=template,
                             truncation="head")
        for i, (a, b) in enumerate(zip(rows_a, rows_b)):
            for out, second in ((pairs, b), (single, None)):
                expected = reference_template_pack(a, second, max_seq_length, template)
                assert [out[k][i].numpy().tolist() for k in ("input_word_ids", "input_mask", "input_type_ids")] \
                    == list(expected)
    with pytest.raises(BertkitError, match="max_seq_length must be at least 4"):
        pack_inputs(tf.ragged.constant([[1]]), tf.ragged.constant([[1]]), 3, template=Template.roberta(0, 2, 1))
