"""Training checkpoints: the last k (every N steps and at each epoch end) and the best by the dev metric.

A checkpoint holds the model, the optimizer (moments, step count: the learning-rate schedule position)
and the loop position (epoch, batches done in it, early-stopping state), so a resumed run continues with
the same data order and schedule. `tf.train.CheckpointManager` writes the data files first and updates
its `checkpoint` index last, atomically; a run killed mid-write leaves at worst an unreferenced temporary
file, never a checkpoint that the index points to and that cannot be read.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import tensorflow as tf


def seed_states(model) -> list:
    """The state variables of every dropout RNG in `model`, so a resumed run draws the same masks."""
    states = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None and getattr(generator, "state", None) is not None:
            states.append(generator.state)
    return states


class Checkpointer:
    """Saves and restores the training state of one run.

    Args:
        directory: the run's `checkpoints/` folder.
        model: the Keras model being trained.
        optimizer: its optimizer (built before restoring, so its slots exist).
        keep: how many recent checkpoints to keep.
    """

    def __init__(self, directory: str | os.PathLike, model, optimizer, keep: int = 3):
        self.directory = Path(directory)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # completed epochs
        self.batch_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # micro-batches done in the epoch
        self.best_metric = tf.Variable(-math.inf, dtype=tf.float64, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.optimizer = optimizer
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, epoch=self.epoch, batch_in_epoch=self.batch_in_epoch,
            best_metric=self.best_metric, best_epoch=self.best_epoch, bad_epochs=self.bad_epochs,
            rng=seed_states(model))
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep=keep,
                                                  checkpoint_name="ckpt")
        self.best_checkpoint = tf.train.Checkpoint(model=model)
        self.best_manager = tf.train.CheckpointManager(self.best_checkpoint, str(self.directory / "best"),
                                                       max_to_keep=1, checkpoint_name="best")

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def restore_latest(self) -> bool:
        """Restores the newest checkpoint; False when there is none."""
        path = self.manager.latest_checkpoint
        if path is None:
            return False
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return True

    def save(self) -> str:
        return self.manager.save(checkpoint_number=int(self.optimizer.iterations.numpy()))

    def save_best(self) -> str:
        return self.best_manager.save(checkpoint_number=int(self.epoch.numpy()))

    def restore_best(self) -> bool:
        path = self.best_manager.latest_checkpoint
        if path is None:
            return False
        self.best_checkpoint.restore(path).assert_existing_objects_matched()
        return True
