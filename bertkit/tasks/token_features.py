"""Shared by the token and span tasks (NER, QA): pre-split words -> WordPiece ids, sliding windows
with "max context", and variable-length features batched with dynamic padding.

Features are numpy rows of different lengths. Training batches come from a seeded, length-bucketed
order (shuffle, sort within chunks of 50 batches, shuffle the batches), so a batch pads only to its
own longest row: CoNLL sentences average ~25 WordPieces, and padding them to 128 would cost ~4x the
compute. Evaluation walks the features sorted by length and records each row's `feature_index`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")
LABEL_PAD = -1  # token label of positions that do not count in the loss ([CLS], [SEP], later subwords, padding)
PAD_MULTIPLE = 8  # batch lengths are rounded up to this, so few distinct shapes are traced
BUCKET_BATCHES = 50  # training: rows are sorted by length within chunks of this many batches
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


@dataclass
class FeatureSet:
    """Encoder features of variable length, with what maps them back to their examples.

    Attributes:
        word_ids: per feature int32 `[T_i]`, [CLS] ... [SEP] included.
        type_ids: per feature int32 `[T_i]`.
        labels: per-feature token labels (list of `[T_i]`, LABEL_PAD where ignored) when
            `token_labels`, else an array `[N, ...]`; None when unlabelled.
        examples: the examples the features came from.
        meta: task-specific per-feature data (example index, word or character maps).
        token_labels: whether `labels` is per token.
        batch_size: rows per evaluation batch.
    """

    word_ids: list
    type_ids: list
    labels: object
    examples: list
    meta: dict = field(default_factory=dict)
    token_labels: bool = True
    batch_size: int = 64

    def __len__(self) -> int:
        return len(self.word_ids)

    def __post_init__(self):
        self.lengths = np.fromiter((len(w) for w in self.word_ids), np.int64, len(self.word_ids))  # [N]

    def batch(self, idx, with_index: bool = False):
        """Padded `(features, labels or None)` numpy batch of the rows `idx`."""
        t = int(max(self.lengths[idx].max(), 1))
        t = math.ceil(t / PAD_MULTIPLE) * PAD_MULTIPLE
        word_ids = _pad([self.word_ids[i] for i in idx], t, 0)  # [B, T]
        feats = {"input_word_ids": word_ids, "input_mask": (_pad([np.ones(len(self.word_ids[i]), np.int32)
                                                                  for i in idx], t, 0)),
                 "input_type_ids": _pad([self.type_ids[i] for i in idx], t, 0)}
        if with_index:
            feats["feature_index"] = np.asarray(idx, np.int32)  # [B]
        if self.labels is None:
            return feats, None
        if self.token_labels:
            return feats, _pad([self.labels[i] for i in idx], t, LABEL_PAD)  # [B, T]
        return feats, np.asarray(self.labels)[idx]

    def eval_batches(self):
        """Batches in length order (least padding), each with `feature_index`."""
        order = np.argsort(self.lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            yield self.batch(order[start:start + self.batch_size], with_index=True)


def _pad(rows, length: int, value: int) -> np.ndarray:
    out = np.full((len(rows), length), value, np.int32)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def bucketed_order(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of batches: shuffled rows, sorted by length within chunks, batches shuffled.

    Every chunk but the last holds a whole number of batches, so an epoch has exactly
    `ceil(N / batch_size)` batches.
    """
    perm = rng.permutation(len(lengths))
    chunk = batch_size * BUCKET_BATCHES
    batches = []
    for c in range(0, len(perm), chunk):
        part = perm[c:c + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[b:b + batch_size] for b in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def training_dataset(features: FeatureSet, batch_size: int, seed: int) -> tf.data.Dataset:
    """`(features, labels)` batches for the training loop, reshuffled (seeded) every pass."""
    lengths = features.lengths
    passes = itertools.count()

    def generate():
        rng = np.random.default_rng([seed, next(passes)])
        for idx in bucketed_order(lengths, batch_size, rng):
            yield features.batch(idx)

    spec = tf.TensorSpec([None, None], tf.int32)
    labels = np.asarray(features.labels) if not features.token_labels else None
    label_spec = spec if features.token_labels else tf.TensorSpec([None, *labels.shape[1:]],
                                                                  tf.as_dtype(labels.dtype))
    ds = tf.data.Dataset.from_generator(generate, output_signature=({n: spec for n in INPUT_NAMES}, label_spec))
    ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(len(features) / batch_size)))
    return ds.prefetch(2)


def run_model(model, features: FeatureSet):
    """Runs `model` over every feature; yields `(feature indices [B], outputs [B, ...] numpy, lengths [B])`."""
    step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    for feats, _ in features.eval_batches():
        index = feats.pop("feature_index")
        out = step({k: tf.constant(v) for k, v in feats.items()}).numpy()
        yield index, out, feats["input_mask"].sum(axis=1)
