"""Few-shot classification with a sentence encoder, after SetFit (Tunstall et al. 2022).

1. Contrastive tuning: pairs of training examples, each round pairing every example with one example of
   its label (target 1) and one of another label (target 0); the encoder's pooled, L2-normalised
   embeddings of both sides are compared by cosine similarity, loss the squared error to the target
   (sentence-transformers' CosineSimilarityLoss). The same GradientTape loop as fine-tuning runs it.
2. The head: L2-regularised logistic regression (scikit-learn's objective, at C = HEAD_C) on the tuned
   encoder's embeddings of the training examples, solved exactly by Newton's method, written into the
   classify head's dense layer.

The result is an ordinary `classify` model (pooling, normalisation, head): it predicts, evaluates, exports
and serves raw text like every other.
"""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import tensorflow as tf

from bertkit.core import graph
from bertkit.data.batching import INPUT_NAMES, bucketed_order
from bertkit.training.loop import run_training
from bertkit.training.optimizer import create_optimizer

# Pairs are sorted by length within windows of this many batches, not batching.BUCKET_BATCHES (50). On SST-2,
# accuracy minus setfit's at 8 / 16 / 64 per class, in points: 50-batch windows -0.3 / -0.9 / -0.6 (5 seeds),
# 4-batch windows -0.3 / -0.1 / -0.2 (10 seeds, paired s.e. 0.2 / 0.5 / 0.2), random batches -0.1 / 0.0 (8 / 16,
# 5 seeds): sorting wide windows groups pairs of like length, a bias the contrastive loss feels. 4-batch windows
# train in 1.1x the time of 50 (random: 1.3x). docs/results.md, "few-shot variants" and the 10-seed grid.
PAIR_BUCKET_BATCHES = 4
# Inverse regularisation strength of the head; setfit keeps scikit-learn's C = 1. Chosen on held-out SST-2 train
# rows (benchmarks/few_shot_head_c.py, 10 seeds at 8 and 16 per class, learning rate 2e-5): C = 100 gained
# +0.6 / +0.6 points there (s.e. 0.3 / 0.4, ahead at 7 of 10 seeds), C = 10 less, at 64 per class nothing moved.
# On SST-2's test split it moved +0.2 / +0.4 / 0.0 points (docs/results.md, v8). Why, unmeasured: the tuned
# embeddings of 16-128 unit vectors are nearly separable, and C = 1 may shrink the weights enough to pull the
# boundary from the margin towards the midpoint of the class centroids.
HEAD_C = 100.0


def make_pairs(labels: np.ndarray, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(left, right, target)` `[P]`: per round, every example with one other of its label and one of another
    label (`target` 1.0 / 0.0). A label with a single example pairs it with itself."""
    rng = np.random.default_rng(seed)
    by_label = {k: np.flatnonzero(labels == k) for k in np.unique(labels)}
    left, right, target = [], [], []
    for _ in range(rounds):
        for i, k in enumerate(labels):
            same = by_label[k][by_label[k] != i]
            other = np.flatnonzero(labels != k)
            left += [i, i]
            right += [rng.choice(same) if len(same) else i, rng.choice(other)]
            target += [1.0, 0.0]
    return np.asarray(left), np.asarray(right), np.asarray(target, np.float32)


class Siamese(keras.Model):
    """Cosine similarity `[B]` of the classify head's embeddings of two batches of rows."""

    def __init__(self, head, **kwargs):
        super().__init__(**kwargs)
        self.head = head

    def call(self, inputs, training=False):
        # One encoder pass over both sides (padded to one width by `pair_dataset`): half the graph to trace
        # and larger matrix products than two passes. The sides stay apart in the input so that a
        # distribution strategy splits both the same way.
        n = tf.shape(inputs["a"]["input_word_ids"])[0]
        both = {k: tf.concat([inputs["a"][k], inputs["b"][k]], axis=0) for k in inputs["a"]}  # [2B, T]
        embedded = self.head.embed(both, training=training)  # [2B, H], L2-normalised
        return tf.reduce_sum(embedded[:n] * embedded[n:], axis=-1)  # [B]


class PairLoss:
    """What the loop needs of a task: the per-pair loss."""

    def loss(self, targets, cosine):
        return tf.square(cosine - targets)  # [B]


def pair_dataset(rows, left, right, target, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled (seeded, per pass) batches `({"a": rows, "b": rows}, targets)`, both sides padded to one
    width `[B, T]`, sorted by the longer side of each pair within windows of PAIR_BUCKET_BATCHES batches.

    Every example sits in ~2 x rounds pairs, so in a random order nearly every batch holds the longest
    example and pads to it: on SST-2 one long sentence doubled a run's training time."""
    passes = itertools.count()
    longer = np.maximum(rows.lengths[left], rows.lengths[right])  # [P]

    def generate():
        rng = np.random.default_rng([seed, next(passes)])
        for idx in bucketed_order(longer, batch_size, rng, window=PAIR_BUCKET_BATCHES):
            both, _ = rows.batch(np.concatenate([left[idx], right[idx]]))  # [2B, T]
            yield ({"a": {k: v[:len(idx)] for k, v in both.items()}, "b": {k: v[len(idx):] for k, v in both.items()}},
                   target[idx])

    spec = {n: tf.TensorSpec([None, None], tf.int32) for n in INPUT_NAMES}
    return tf.data.Dataset.from_generator(generate, output_signature=(
        {"a": spec, "b": spec}, tf.TensorSpec([None], tf.float32))).prefetch(2)


def embed_rows(head, rows) -> np.ndarray:
    """The head's embeddings `[N, H]` (float64) of every row, in row order."""
    call = graph.function(lambda x: head.embed({n: x[n] for n in INPUT_NAMES}, training=False),
                          input_signature=[{n: tf.TensorSpec([None, None], tf.int32) for n in INPUT_NAMES}])
    out = np.zeros((len(rows), head.encoder.config.hidden_size))
    for feats, _ in rows.eval_batches():
        index = feats.pop("feature_index")
        out[index] = call({k: tf.constant(v) for k, v in feats.items()}).numpy()
    return out


def logistic_regression(x: np.ndarray, labels: np.ndarray, classes: int, c: float, iterations: int = 50):
    """Minimises `c * sum(log loss) + ||W||^2 / 2` (bias unpenalised) by Newton's method: binary with one
    logit (`[D, 1]`, `[1]`), else multinomial softmax (`[D, K]`, `[K]`), as scikit-learn's lbfgs solver."""
    n, d = x.shape
    k = 1 if classes == 2 else classes
    xb = np.hstack([x, np.ones((n, 1))])  # [N, D + 1]
    y = np.eye(classes)[labels][:, 1:] if classes == 2 else np.eye(classes)[labels]  # [N, k]
    w = np.zeros((d + 1) * k)
    penalty = np.tile(np.r_[np.ones(d), 1e-8], k)  # no penalty on the bias (a tiny one keeps H invertible)
    for _ in range(iterations):
        z = xb @ w.reshape(k, d + 1).T  # [N, k]
        p = 1 / (1 + np.exp(-z)) if k == 1 else np.exp(z - z.max(1, keepdims=True))
        if k > 1:
            p /= p.sum(1, keepdims=True)
        grad = c * ((p - y).T @ xb).reshape(-1) + penalty * w
        if k == 1:
            hess = c * (xb.T * (p[:, 0] * (1 - p[:, 0]))) @ xb
        else:  # block (a, b) = sum_n p_a (delta_ab - p_b) x x^T
            s = p[:, :, None] * (np.eye(k)[None] - p[:, None, :])  # [N, k, k]
            hess = c * np.block([[(xb.T * s[:, a, b]) @ xb for b in range(k)] for a in range(k)])
        step = np.linalg.solve(hess + np.diag(penalty), grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    w = w.reshape(k, d + 1)
    return w[:, :d].T, w[:, d]  # [D, k], [k]


def tune_and_fit(run, built, history) -> dict:
    """Steps 1 and 2 on the run's training examples; returns the loop's statistics."""
    c, task, head = run.config, built.task, built.model
    labels = task.labels_of(run.train_examples)
    left, right, target = make_pairs(labels, c.pair_iterations, c.seed)
    siamese = Siamese(head)
    steps = math.ceil(len(left) / c.batch_size) * c.epochs
    with run.strategy.scope():
        optimizer = create_optimizer(head.encoder.trainable_variables, c.learning_rate, steps, c.warmup_fraction,
                                     c.weight_decay, clip_norm=None)
    stats = run_training(siamese, PairLoss(), lambda epoch: pair_dataset(built.features, left, right, target,
                                                                         c.batch_size, c.seed * 1000 + epoch),
                         optimizer, c, num_rows=len(left), main_metric="loss", verbose=run.verbose,
                         strategy=run.strategy, history=history)
    kernel, bias = logistic_regression(embed_rows(head, built.features), labels, len(task.config.labels), HEAD_C)
    head.classifier.kernel.assign(kernel.astype(np.float32))
    head.classifier.bias.assign(bias.astype(np.float32))
    return stats
