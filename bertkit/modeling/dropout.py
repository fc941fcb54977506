"""Dropout with 16 random bits per element instead of a float32 uniform.

Keras' dropout draws one float uniform per element (Philox: 32 random bits, then an int-to-float
conversion) in the input's dtype; on a CPU its random numbers were the costliest non-matmul op of a
bf16 training step (`benchmarks/results/profile_step-mixed_bfloat16.json`), and attention dropout
runs on `[B, heads, T, T]`. This layer draws half as many uint32s, reads each as two
uint16s (a bitcast, no copy) and drops an element when its 16 bits fall below `round(rate * 2^16)`.

The rate is then quantised to a multiple of 2^-16 (0.1 -> 0.100006) and kept elements are scaled by
`1 / (1 - quantised rate)`, so the layer stays exactly unbiased: E[output] = input. Seeds come from the
layer's Keras `SeedGenerator`, as in Keras' own Dropout (same `keras.utils.set_random_seed` control).
"""

from __future__ import annotations

import keras
import tensorflow as tf

BITS = 16
LEVELS = 1 << BITS


def quantised_rate(rate: float) -> tuple[int, float]:
    """`(threshold, scale)`: drop where the 16 random bits are < threshold; scale the kept elements."""
    threshold = min(LEVELS - 1, round(rate * LEVELS))
    return threshold, LEVELS / (LEVELS - threshold)


class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` (no `noise_shape`) with a cheaper random mask; same config and seeds."""

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is not None or self.rate >= 1.0:
            return super().call(inputs, training=training)
        threshold, scale = quantised_rate(self.rate)
        seed = keras.random.randint((2,), 0, 2**31 - 1, seed=self.seed_generator)  # [2] int32
        n = tf.size(inputs)
        bits = tf.random.stateless_uniform([(n + 1) // 2], seed, minval=None, maxval=None,
                                           dtype=tf.uint32)  # [ceil(n / 2)]
        bits = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:n]  # [n] two draws per uint32
        keep = tf.reshape(bits >= tf.constant(threshold, tf.uint16), tf.shape(inputs))
        scaled = inputs * tf.constant(scale, inputs.dtype)
        return tf.where(keep, scaled, tf.zeros_like(scaled))
