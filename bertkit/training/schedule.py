"""Learning-rate schedule: linear warm-up, then linear decay to zero (BERT's schedule)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="bertkit")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = peak * step / warmup for step < warmup, then peak * (total - step) / (total - warmup).

    Args:
        peak: the learning rate reached at the end of warm-up.
        total_steps: optimizer steps of the whole run; lr reaches 0 there.
        warmup_steps: steps of linear warm-up from 0.
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak = float(peak)
        self.total_steps = int(max(total_steps, 1))
        self.warmup_steps = int(min(max(warmup_steps, 0), self.total_steps))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = tf.cast(self.warmup_steps, tf.float32)
        total = tf.cast(self.total_steps, tf.float32)
        up = self.peak * step / tf.maximum(warm, 1.0)
        down = self.peak * (total - step) / tf.maximum(total - warm, 1.0)
        return tf.maximum(tf.where(step < warm, up, down), 0.0)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}
