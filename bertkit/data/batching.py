"""Variable-length model rows batched with dynamic padding, shared by every task.

Rows have different lengths (numpy). Training batches come from a seeded, length-bucketed order
(shuffle, sort within chunks of 50 batches, shuffle the batches), so a batch pads only to its own
longest row: CoNLL sentences average ~25 WordPieces (SST-2 ~15), and padding them to 128 would cost
~4x the compute. Batch lengths are multiples of PAD_MULTIPLE. Evaluation walks the rows sorted by
length and records each row's index.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from bertkit.modeling.encoder import INPUT_NAMES

LABEL_PAD = -1  # token label of positions that do not count in the loss ([CLS], [SEP], later subwords, padding)
PAD_MULTIPLE = 8  # batch lengths are rounded up to this, so few distinct shapes are traced
BUCKET_BATCHES = 50  # training: rows are sorted by length within chunks of this many batches


@dataclass
class FeatureSet:
    """Model rows of variable length (a text, a pair or a window each), with their labels.

    Attributes:
        word_ids: per row int32 `[T_i]`, special tokens included.
        type_ids: per row int32 `[T_i]`.
        labels: per-row token labels (list of `[T_i]`, LABEL_PAD where ignored) when `token_labels`,
            else an array `[N, ...]`; None when unlabelled.
        token_labels: whether `labels` is per token.
        batch_size: rows per evaluation batch.
        extra_inputs: more per-token model inputs, `{name: per feature int32 [T_i]}`, padded with 0
            (e.g. the NER head's `input_case_ids`).
    """

    word_ids: list
    type_ids: list
    labels: object
    token_labels: bool = True
    batch_size: int = 64
    extra_inputs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.word_ids)

    def __post_init__(self):
        self.lengths = np.fromiter((len(w) for w in self.word_ids), np.int64, len(self.word_ids))  # [N]

    @classmethod
    def concatenate(cls, parts: list[FeatureSet]) -> FeatureSet:
        """The rows of `parts` laid end to end (all labelled alike)."""
        if not parts:
            return cls([], [], None)
        first = parts[0]
        labels = None
        if first.labels is not None:
            labels = ([row for p in parts for row in p.labels] if first.token_labels
                      else np.concatenate([p.labels for p in parts], axis=0))
        return cls([r for p in parts for r in p.word_ids], [r for p in parts for r in p.type_ids], labels,
                   token_labels=first.token_labels, batch_size=first.batch_size,
                   extra_inputs={name: [r for p in parts for r in p.extra_inputs[name]] for name in first.extra_inputs})

    def batch(self, idx, with_index: bool = False):
        """Padded `(features, labels or None)` numpy batch of the rows `idx`."""
        t = int(max(self.lengths[idx].max(), 1))
        t = math.ceil(t / PAD_MULTIPLE) * PAD_MULTIPLE
        word_ids = _pad([self.word_ids[i] for i in idx], t, 0)  # [B, T]
        feats = {"input_word_ids": word_ids, "input_mask": (_pad([np.ones(len(self.word_ids[i]), np.int32)
                                                                  for i in idx], t, 0)),
                 "input_type_ids": _pad([self.type_ids[i] for i in idx], t, 0)}
        for name, rows in self.extra_inputs.items():
            feats[name] = _pad([rows[i] for i in idx], t, 0)  # [B, T]
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


def bucketed_order(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                   window: int = BUCKET_BATCHES) -> list[np.ndarray]:
    """One epoch of batches: shuffled rows, sorted by length within chunks of `window` batches, batches shuffled.

    Every chunk but the last holds a whole number of batches, so an epoch has exactly
    `ceil(N / batch_size)` batches, all full but the last one: the training loop averages each step's
    loss over the step's example count, which it knows by position.
    """
    perm = rng.permutation(len(lengths))
    chunk = batch_size * window  # rows sorted together: wider saves padding, narrower keeps more randomness
    batches = []
    for c in range(0, len(perm), chunk):
        part = perm[c:c + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[b:b + batch_size] for b in range(0, len(part), batch_size)]
    short = [b for b in batches if len(b) < batch_size]  # at most one
    full = [b for b in batches if len(b) == batch_size]
    return [full[i] for i in rng.permutation(len(full))] + short


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
    names = (*INPUT_NAMES, *features.extra_inputs)
    ds = tf.data.Dataset.from_generator(generate, output_signature=({n: spec for n in names}, label_spec))
    ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(len(features) / batch_size)))
    return ds.prefetch(2)


def run_model(call, features: FeatureSet):
    """Runs `call` (the model on a dict of int32 `[B, T]` inputs) over every row in length order;
    yields `(row indices [B], outputs [B, ...] numpy)`."""
    for feats, _ in features.eval_batches():
        index = feats.pop("feature_index")
        yield index, np.asarray(call({k: tf.constant(v) for k, v in feats.items()}))
