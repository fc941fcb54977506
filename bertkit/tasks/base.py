"""The task interface (after TF Model Garden): build the model, its inputs, its loss and its metrics.

A task knows how to turn examples into encoder inputs and labels, how to put a head on the encoder,
and how to score predictions. The training loop knows nothing else about the model.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bertkit.config import PreprocessConfig, TaskConfig


class Task:
    """Base class. Subclasses live in one file each and are registered in `bertkit.tasks.TASKS`."""

    name = "base"

    def __init__(self, config: TaskConfig, preprocess: PreprocessConfig, tokenizer):
        self.config = config
        self.preprocess = preprocess
        self.tokenizer = tokenizer

    @classmethod
    def configure(cls, train_examples, *, pooling: str, head_dropout: float, source: str) -> TaskConfig:
        """Derives the task config (label list, pair or not) from the training data."""
        raise NotImplementedError

    def build_model(self, encoder) -> keras.Model:
        """Puts this task's head on `encoder`; the model maps encoder inputs to float32 outputs."""
        raise NotImplementedError

    def make_dataset(self, examples, batch_size: int, *, training: bool, seed: int = 0,
                     source: str = "data") -> tf.data.Dataset:
        """Yields `(features, labels)` batches; features use the encoder's input names."""
        raise NotImplementedError

    def loss(self, labels, outputs) -> tf.Tensor:
        """Per-example loss `[B]` (the loop averages it over the global batch)."""
        raise NotImplementedError

    def predict_outputs(self, model, dataset) -> tuple[np.ndarray, np.ndarray | None]:
        """Runs `model` over `dataset`; returns (scores, gold labels or None)."""
        raise NotImplementedError

    def compute_metrics(self, gold, scores) -> dict[str, Any]:
        raise NotImplementedError

    def main_metric(self) -> str:
        """The metric used to choose the best epoch (higher is better)."""
        return "accuracy"

    def format_predictions(self, examples, scores) -> list[dict[str, Any]]:
        raise NotImplementedError
