"""Training checkpoints: the last k (every N steps and at each epoch end) and the best by the dev metric.

A checkpoint holds the model, the optimizer (moments, step count: the learning-rate schedule position)
and the loop position (epoch, batches done in it, early-stopping state), so a resumed run continues with
the same data order and schedule.

Crash safety, whatever instant the process is killed at:
* `tf.train.Checkpoint.write` writes temporary files and renames them into place, the `.index` last;
* only then is the `checkpoint` index file rewritten (atomically) to name the new checkpoint;
* old checkpoints are deleted only after the index stops naming them.

So the index never names a checkpoint that is missing or half-written. (`tf.train.CheckpointManager`
deletes old checkpoints *before* it drops them from the index, so a kill in between leaves the index
naming deleted files; hence this small ring of our own.)
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import tensorflow as tf

from bertkit.core.io import atomic_write_text


def seed_states(model) -> list:
    """The state variables of every dropout RNG in `model` (Keras lists them among the non-trainable
    variables), so a resumed run draws the same masks."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def write_index(directory: Path, names: list[str]) -> None:
    """Writes the `checkpoint` index file that `tf.train.latest_checkpoint` / `get_checkpoint_state` read
    (a `CheckpointState` in protobuf text format): the last of `names` is the latest. Names are relative to
    the folder, so a moved run folder still resumes; the file is replaced by an atomic rename."""
    quoted = [json.dumps(name) for name in names]  # our names are ASCII `ckpt-N` / `best-N`
    text = f"model_checkpoint_path: {quoted[-1]}\n" + "".join(f"all_model_checkpoint_paths: {q}\n" for q in quoted)
    atomic_write_text(directory / "checkpoint", text)


class CheckpointRing:
    """The newest `keep` checkpoints of `checkpoint` in `directory`, named `{name}-{number}`."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: Path, name: str, keep: int):
        self.checkpoint, self.directory, self.name, self.keep = checkpoint, Path(directory), name, keep

    @property
    def paths(self) -> list[str]:
        """The checkpoints the index names, oldest first."""
        state = tf.train.get_checkpoint_state(str(self.directory))
        if state is None:
            return []
        return [p if os.path.isabs(p) else str(self.directory / p) for p in state.all_model_checkpoint_paths]

    @property
    def latest(self) -> str | None:
        return tf.train.latest_checkpoint(str(self.directory))

    def save(self, number: int) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.checkpoint.write(str(self.directory / f"{self.name}-{number}"))  # whole before we go on
        paths = [p for p in self.paths if p != path] + [path]
        kept, dropped = paths[-self.keep:], paths[:-self.keep]
        write_index(self.directory, [os.path.basename(p) for p in kept])
        for old in dropped:  # no longer named: now safe to delete (the .index first makes it unloadable)
            for f in [old + ".index", *tf.io.gfile.glob(old + ".data-*")]:
                if tf.io.gfile.exists(f):
                    tf.io.gfile.remove(f)
        return path

    def restore(self, checkpoint: tf.train.Checkpoint | None = None) -> bool:
        """Restores the newest checkpoint (into `checkpoint`, default the saved one); False when none."""
        path = self.latest
        if path is None:
            return False
        (checkpoint or self.checkpoint).read(path).assert_existing_objects_matched()
        return True


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
        checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, epoch=self.epoch, batch_in_epoch=self.batch_in_epoch,
            best_metric=self.best_metric, best_epoch=self.best_epoch, bad_epochs=self.bad_epochs,
            rng=seed_states(model))
        self.ring = CheckpointRing(checkpoint, self.directory, "ckpt", keep)
        self.best_ring = CheckpointRing(tf.train.Checkpoint(model=model), self.directory / "best", "best", 1)

    @property
    def latest(self) -> str | None:
        return self.ring.latest

    def restore_latest(self) -> bool:
        """Restores the newest checkpoint; False when there is none."""
        return self.ring.restore()

    def save(self) -> str:
        return self.ring.save(int(self.optimizer.iterations.numpy()))

    def save_best(self) -> str:
        return self.best_ring.save(int(self.epoch.numpy()))

    def restore_best(self) -> bool:
        return self.best_ring.restore()
