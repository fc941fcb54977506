"""bertkit's Dropout (16 random bits per element): unbiased, the right rate, seeded, a true mask.

Layers get an explicit float32 policy so the checks do not depend on Keras' global policy: under
mixed_bfloat16, 1/keep itself rounds to bf16 (1.109375 for 1.1111)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertkit.modeling.dropout import Dropout, quantised_rate


def test_quantised_rate_is_the_nearest_multiple_of_2_to_the_minus_16():
    threshold, scale = quantised_rate(0.1)
    assert threshold == 6554 and scale == pytest.approx(1 / (1 - 6554 / 65536))
    assert quantised_rate(0.0) == (0, 1.0)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_drop_fraction_and_mean_on_a_million_elements(rate):
    keras.utils.set_random_seed(3)
    x = tf.ones([1000, 1001])  # odd count: the last uint32 is half used
    y = Dropout(rate, dtype="float32")(x, training=True).numpy()
    threshold, scale = quantised_rate(rate)
    # Binomial standard deviation of the drop fraction is < 0.0005 here; 5 sigma.
    assert abs((y == 0).mean() - threshold / 65536) < 0.0025
    assert abs(y.mean() - 1.0) < 0.005  # unbiased: kept elements carry 1 / keep
    np.testing.assert_allclose(np.unique(y), [0.0, scale], rtol=1e-6)


def test_no_structure_in_the_mask():
    """The two uint16 halves of each uint32 and neighbouring rows drop independently."""
    keras.utils.set_random_seed(4)
    dropped = Dropout(0.5, dtype="float32")(tf.ones([2000, 512]), training=True).numpy() == 0
    pairs = dropped.reshape(-1, 2)  # the two halves of one uint32
    both = (pairs[:, 0] & pairs[:, 1]).mean()
    assert abs(both - 0.25) < 0.01
    assert abs((dropped[1:] & dropped[:-1]).mean() - 0.25) < 0.01


def test_inference_is_identity_and_seeds_repeat():
    x = tf.random.normal([8, 16, 32])
    assert Dropout(0.1, dtype="float32")(x, training=False) is x
    outs = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        layer = Dropout(0.1, dtype="float32")
        outs.append([layer(x, training=True).numpy() for _ in range(2)])
    np.testing.assert_array_equal(outs[0][0], outs[1][0])  # same seed, same masks
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    assert (outs[0][0] != outs[0][1]).any()  # a new mask on every call


def test_gradient_flows_through_kept_elements_only():
    keras.utils.set_random_seed(5)
    layer = Dropout(0.1, dtype="float32")
    x = tf.Variable(tf.random.normal([64, 48]))
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
    g = tape.gradient(y, x).numpy()
    kept = y.numpy() != 0
    np.testing.assert_allclose(g[kept], quantised_rate(0.1)[1], rtol=1e-6)
    assert (g[~kept] == 0).all() and (~kept).any()


def test_bfloat16_inputs_keep_their_dtype():
    layer = Dropout(0.1, dtype="mixed_bfloat16")
    y = layer(tf.ones([32, 64], tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16 and 0.05 < float(tf.reduce_mean(tf.cast(y == 0, tf.float32))) < 0.15
