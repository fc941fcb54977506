"""The hand-written training loop: `tf.GradientTape` inside a `tf.function`, run by a
`tf.distribute.Strategy` (the default strategy on one device), as the tutorial's loop but without
the Estimator.

The loop knows only the task's `loss` and the model; evaluation is a callback.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import tensorflow as tf

from bertkit.errors import BertkitError
from bertkit.training.history import History
from bertkit.training.progress import Progress


def make_train_step(model, task, optimizer, strategy: tf.distribute.Strategy):
    """Returns a compiled function `(features, labels) -> mean loss` that applies one update.

    The per-example losses are averaged over the *global* batch (`tf.nn.compute_average_loss`), so
    the update is the same whatever the number of replicas.
    """

    def replica_step(features, labels):
        with tf.GradientTape() as tape:
            outputs = model(features, training=True)
            per_example = task.loss(labels, outputs)  # [B_replica]
            loss = tf.nn.compute_average_loss(per_example)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        # Variables outside the loss path (the pooler under mean pooling) have no gradient.
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return loss

    @tf.function(reduce_retracing=True)
    def train_step(features, labels):
        per_replica = strategy.run(replica_step, args=(features, labels))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return train_step


def run_training(model, task, dataset, optimizer, *, epochs: int, steps_per_epoch: int,
                 strategy: tf.distribute.Strategy, history: History,
                 on_epoch_end: Callable[[int], dict] | None = None, verbose: bool = True) -> dict:
    """Trains `model` for `epochs` passes over `dataset`.

    Args:
        model: Keras model taking the encoder inputs.
        task: a `bertkit.tasks.Task` (provides `loss`).
        dataset: `tf.data.Dataset` of `(features, labels)` batches (global batch size).
        optimizer: built by `create_optimizer` under `strategy.scope()`.
        epochs: passes over the data.
        steps_per_epoch: batches per pass (for the progress bar and ETA).
        strategy: the distribution strategy the model was built under.
        history: where step and epoch records go.
        on_epoch_end: called with the 1-based epoch; returns eval metrics to log (or {}).
        verbose: show the progress bar.

    Returns:
        `{"train_seconds", "train_examples", "examples_per_second", "final_loss"}`.
    """
    train_step = make_train_step(model, task, optimizer, strategy)
    dist_ds = strategy.experimental_distribute_dataset(dataset)
    train_seconds, train_examples, loss_value = 0.0, 0, float("nan")
    for epoch in range(1, epochs + 1):
        progress = Progress(steps_per_epoch, epoch, epochs, enabled=verbose)
        losses = []
        for step_in_epoch, (features, labels) in enumerate(dist_ds, start=1):
            loss_value = float(train_step(features, labels))
            if not math.isfinite(loss_value):
                raise BertkitError(
                    f"training diverged: the loss became {loss_value} at epoch {epoch}, step {step_in_epoch}. "
                    "Lower --learning-rate or check the labels.")
            losses.append(loss_value)
            step = int(optimizer.iterations.numpy())
            lr = float(optimizer.learning_rate.numpy()) if hasattr(optimizer.learning_rate, "numpy") else 0.0
            n = _batch_size(labels, strategy)
            progress.update(step_in_epoch, loss_value, n, lr)
            if step % max(1, history_every(steps_per_epoch)) == 0:
                history.log("train", step, epoch=epoch, loss=loss_value, learning_rate=lr)
        train_seconds += progress.elapsed
        train_examples += progress.examples
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                  "epoch_seconds": progress.elapsed}
        if on_epoch_end is not None:
            record["eval"] = on_epoch_end(epoch)
        history.log("epoch", int(optimizer.iterations.numpy()), **record)
    return {"train_seconds": train_seconds, "train_examples": train_examples,
            "examples_per_second": train_examples / max(train_seconds, 1e-9), "final_loss": loss_value}


def history_every(steps_per_epoch: int) -> int:
    """Log about 50 train points per epoch, at least every step for tiny runs."""
    return max(1, steps_per_epoch // 50)


def _batch_size(labels, strategy) -> int:
    if strategy.num_replicas_in_sync > 1:
        parts = strategy.experimental_local_results(labels)
        return int(sum(int(tf.shape(p)[0]) for p in parts))
    return int(tf.shape(labels)[0])
