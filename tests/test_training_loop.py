"""The loop's guarantees: gradient accumulation is exact, early stopping keeps the best epoch, a NaN
loss stops the run without touching the last good checkpoint."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertkit.core.config import EncoderConfig, TrainConfig
from bertkit.modeling.encoder import BertEncoder
from bertkit.core.errors import BertkitError
from bertkit.modeling.heads import PooledHead
from bertkit.training.checkpoints import Checkpointer
from bertkit.training.history import History
from bertkit.training.loop import Plan, run_training
from bertkit.training.optimizer import create_optimizer

T = 12


class TinyTask:
    """Binary sigmoid loss, enough for the loop."""

    def loss(self, labels, logits):
        y = tf.cast(labels[:, None], tf.float32)
        return tf.squeeze(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits), -1)


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    config = EncoderConfig(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                           max_position_embeddings=32, dropout=0.0, attention_dropout=0.0)
    model = PooledHead(BertEncoder(config), 1, pooling="mean", dropout=0.0)
    model({k: tf.zeros((1, T), tf.int32) for k in ("input_word_ids", "input_mask", "input_type_ids")})
    return model


def data(n=24, seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 50, size=(n, T)).astype(np.int32)
    features = {"input_word_ids": ids, "input_mask": np.ones_like(ids), "input_type_ids": np.zeros_like(ids)}
    labels = (ids[:, 0] > 27).astype(np.int32)
    return features, labels


def dataset_fn(batch, n=24):
    features, labels = data(n)
    return lambda epoch: tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch)


def loop(model, task, opt, *, batch, n=24, history=None, on_epoch_end=None, checkpointer=None,
         main_metric="accuracy", **config):
    """run_training on `n` rows in batches of `batch`; `config`: TrainConfig fields."""
    return run_training(model, task, dataset_fn(batch, n), opt, TrainConfig(batch_size=batch, **config), num_rows=n,
                        main_metric=main_metric, verbose=False, strategy=tf.distribute.get_strategy(),
                        history=history or History(None), on_epoch_end=on_epoch_end, checkpointer=checkpointer)


def weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def train(batch, accumulation, epochs=1, n=24, **kw):
    model = tiny_model()
    opt = create_optimizer(model.trainable_variables, 1e-2, Plan(n, batch, accumulation).steps_per_epoch * epochs,
                           0.0, 0.01, clip_norm=None)
    stats = loop(model, TinyTask(), opt, batch=batch, n=n, epochs=epochs, accumulation_steps=accumulation, **kw)
    return model, opt, stats


def test_accumulation_equals_one_large_batch():
    big, opt_big, _ = train(batch=12, accumulation=1)
    acc, opt_acc, _ = train(batch=4, accumulation=3)
    assert int(opt_big.iterations.numpy()) == int(opt_acc.iterations.numpy()) == 2
    for a, b in zip(weights(big), weights(acc)):
        np.testing.assert_allclose(a, b, atol=2e-6)


def test_accumulation_with_a_short_last_group():
    # 22 examples, micro-batch 4, k=3: groups of 12 and 10 examples.
    big, _, _ = train(batch=12, accumulation=1, n=22)
    acc, _, _ = train(batch=4, accumulation=3, n=22)
    for a, b in zip(weights(big), weights(acc)):
        np.testing.assert_allclose(a, b, atol=2e-6)
    assert Plan(22, 4, 3).group_sizes() == [12, 10]


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    model = tiny_model()
    opt = create_optimizer(model.trainable_variables, 1e-2, 3 * 6, 0.0, 0.01)
    opt.build(model.trainable_variables)
    ckpt = Checkpointer(tmp_path / "checkpoints", model, opt)
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9, 0.9])
    best_weights = {}

    def on_epoch_end(epoch):
        score = next(scores)
        if epoch == 2:
            best_weights["w"] = weights(model)
        return {"score": score}

    stats = loop(model, TinyTask(), opt, batch=8, epochs=6, patience=2, main_metric="score",
                 on_epoch_end=on_epoch_end, checkpointer=ckpt)
    assert stats["stopped_early"] and stats["epochs_run"] == 4 and stats["best_epoch"] == 2
    assert stats["best_metric"] == pytest.approx(0.7)
    assert ckpt.restore_best()
    for a, b in zip(weights(model), best_weights["w"]):
        np.testing.assert_array_equal(a, b)


class NanAfter(TinyTask):
    def __init__(self, step):
        self.calls = tf.Variable(0)
        self.step = step

    def loss(self, labels, logits):
        self.calls.assign_add(1)
        loss = super().loss(labels, logits)
        return tf.cond(self.calls > self.step, lambda: loss * np.nan, lambda: loss)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    model = tiny_model()
    opt = create_optimizer(model.trainable_variables, 1e-2, 9, 0.0, 0.01)
    opt.build(model.trainable_variables)
    ckpt = Checkpointer(tmp_path / "checkpoints", model, opt)
    with pytest.raises(BertkitError, match=r"diverged.*nan.*last good checkpoint is .*ckpt-4"):
        loop(model, NanAfter(4), opt, batch=8, epochs=3, checkpoint_every=2, checkpointer=ckpt)
    # the checkpoint written before the NaN restores to finite weights
    restored = tiny_model(seed=5)
    opt2 = create_optimizer(restored.trainable_variables, 1e-2, 9, 0.0, 0.01)
    opt2.build(restored.trainable_variables)
    again = Checkpointer(tmp_path / "checkpoints", restored, opt2)
    assert again.restore_latest()
    assert all(np.isfinite(w).all() for w in weights(restored))
    # step 4 = epoch 1 done (3 steps) + 1 batch of epoch 2
    assert int(again.epoch.numpy()) == 1 and int(again.batch_in_epoch.numpy()) == 1
    assert int(opt2.iterations.numpy()) == 4


def test_group_sizes_and_steps():
    o = Plan(10, 4)
    assert (o.batches_per_epoch, o.steps_per_epoch, o.group_sizes()) == (3, 3, [4, 4, 2])
    assert math.isclose(sum(Plan(101, 8, 4).group_sizes()), 101)


class OutOfMemory(TinyTask):
    def loss(self, labels, logits):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")


def test_out_of_memory_suggests_smaller_inputs():
    model = tiny_model()
    opt = create_optimizer(model.trainable_variables, 1e-2, 3, 0.0, 0.01)
    with pytest.raises(BertkitError, match=r"out of memory.*--max-seq-length.*--accumulation-steps"):
        loop(model, OutOfMemory(), opt, batch=8, epochs=1)


def _loss_curve(policy: str, steps: int = 6) -> list[float]:
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = tiny_model()
        opt = create_optimizer(model.trainable_variables, 1e-2, steps, 0.0, 0.01, clip_norm=None)
        losses = []
        history = History(None)
        history.log = lambda kind, step, **record: losses.append(record["loss"]) if kind == "train" else None
        loop(model, TinyTask(), opt, batch=4, epochs=1, history=history)
        assert all(v.dtype == "float32" for v in model.trainable_variables)  # float32 master weights
        return losses
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_bfloat16_training_loss_follows_float32():
    # bf16 matmuls carry ~3 significant digits; the loss (softmax, LayerNorm and loss in float32) tracks fp32.
    fp32, bf16 = _loss_curve("float32"), _loss_curve("mixed_bfloat16")
    assert len(fp32) == len(bf16) == 6
    np.testing.assert_allclose(bf16, fp32, rtol=0.03, atol=0.01)
    assert fp32 != bf16  # the bf16 run really ran in bf16


def test_xla_step_trains_the_same_weights():
    plain, _, _ = train(batch=4, accumulation=1)
    xla, _, _ = train(batch=4, accumulation=1, jit_compile=True)
    for a, b in zip(weights(plain), weights(xla)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_every_epoch_runs_without_the_autotune_thread(monkeypatch):
    # its wait at iterator teardown stalled epochs' ends by up to its optimisation period (loop.py)
    import bertkit.training.loop as loop_module

    seen, distribute = [], loop_module._distribute

    def spy(strategy, dataset, global_batch):
        seen.append(dataset.options().autotune.enabled)
        return distribute(strategy, dataset, global_batch)

    monkeypatch.setattr(loop_module, "_distribute", spy)
    assert tf.data.Dataset.range(3).options().autotune.enabled is not False  # tf.data's default: on
    train(batch=8, accumulation=1, epochs=2)
    assert seen == [False, False]
