"""The task interface (after TF Model Garden): build the model, its inputs, its loss and its metrics.

A task knows how to turn examples into encoder inputs and labels, how to put a head on the encoder,
and how to score predictions. The training loop knows nothing else about the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bertkit.config import PreprocessConfig, TaskConfig
from bertkit.data import Example, load_splits, read_examples, resolve_data, sample_examples
from bertkit.errors import BertkitError


def option_choice(key: str, value, allowed: tuple) -> str:
    """`value` of task option `key` as a string, when it is one of `allowed`.

    Raises:
        BertkitError: naming the option, the value and the choices.
    """
    choice = str(value)
    if choice not in allowed:
        raise BertkitError(f"task option {key}={value!r}: expected {', '.join(allowed[:-1])} or {allowed[-1]}.")
    return choice


class Task:
    """Base class. Subclasses live in one file each and are registered in `bertkit.tasks.TASKS`."""

    name = "base"
    example_types: tuple[type, ...] = (Example,)  # what this task's readers produce
    option_defaults: dict = {}  # task options (`--task-option KEY=VALUE`) and their defaults

    def __init__(self, config: TaskConfig, preprocess: PreprocessConfig, tokenizer):
        self.config = config
        self.preprocess = preprocess
        self.tokenizer = tokenizer

    @classmethod
    def read_data(cls, spec, *, train_samples: int | None, test_samples: int | None, seed: int):
        """Train and test examples of `spec` (dataset name, folder or file).

        Returns:
            (train examples, test examples or None, description of the files and sampling).
        """
        train, test, description = load_splits(spec, train_samples=train_samples, test_samples=test_samples,
                                               seed=seed)
        train, test = cls.convert_examples(train), (cls.convert_examples(test) if test is not None else None)
        cls.check_examples(train, description)
        return train, test, description

    @classmethod
    def convert_examples(cls, examples) -> list:
        """What this task makes of another task's data (e.g. CoNLL sentences for multilabel); as is by default."""
        return examples

    @classmethod
    def check_examples(cls, examples, source: str) -> None:
        """Raises a clear error when a reader produced examples of another task type."""
        bad = next((e for e in examples if not isinstance(e, cls.example_types)), None)
        if bad is not None:
            hint = {"TokenExample": "CoNLL token-tagged sentences: use --task ner (or --task multilabel)",
                    "QAExample": "SQuAD questions: use --task qa",
                    "Example": "text rows: use --task classify, multilabel or regression"}.get(type(bad).__name__, "")
            raise BertkitError(f"{source}: holds {type(bad).__name__}s ({bad.guid}), which a {cls.name!r} task "
                               f"cannot use; {hint}.")

    @classmethod
    def resolve_options(cls, options: dict) -> dict:
        """`option_defaults` updated with `options` (each converted to its default's type)."""
        unknown = sorted(set(options) - set(cls.option_defaults))
        if unknown:
            known = ", ".join(sorted(cls.option_defaults)) or "none"
            raise BertkitError(f"task {cls.name!r} has no option {unknown[0]!r}; its options are: {known}.")
        out = dict(cls.option_defaults)
        for key, value in options.items():
            kind = type(out[key])
            try:
                out[key] = kind(value)
            except (TypeError, ValueError):
                raise BertkitError(f"task option {key}={value!r}: expected a {kind.__name__}.") from None
        return out

    @classmethod
    def configure(cls, train_examples, *, pooling: str, head_dropout: float, source: str, **options) -> TaskConfig:
        """Derives the task config (label list, pair or not) from the training data.

        `options` are task-specific settings (`bertkit train --task-option KEY=VALUE`), kept in
        `TaskConfig.extra`; a task without options rejects any.
        """
        raise NotImplementedError

    def read_eval_data(self, data, samples: int | None, seed: int):
        """Labelled examples from a file or split folder, or the test (else dev) split of a dataset.

        Returns:
            (examples, source description).
        """
        path = Path(data)
        if not path.exists() or (path.is_dir() and not (path / "pos").is_dir()):  # a name, or a split folder
            split = resolve_data(str(data), "test")
            if split is None:
                raise BertkitError(f"{data}: no test or dev split found to evaluate on; pass a file with --data.")
            path = split
        examples = self.convert_examples(sample_examples(read_examples(path), samples, seed))
        self.check_examples(examples, str(path))
        return examples, str(path)

    def as_examples(self, inputs) -> list:
        """Prediction inputs -> examples: strings, `(text_a, text_b)` pairs or Examples."""
        examples = []
        for i, item in enumerate(inputs):
            if isinstance(item, Example):
                examples.append(item)
            elif isinstance(item, str):
                examples.append(Example(text_a=item, guid=f"input-{i}"))
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                examples.append(Example(text_a=item[0], text_b=item[1], guid=f"input-{i}"))
            else:
                raise BertkitError(f"predict: input {i} must be a string, a (text_a, text_b) pair or an "
                                   f"Example, got {type(item).__name__}.")
        return examples

    def read_predict_inputs(self, path) -> list | None:
        """Prediction inputs read from `path` in this task's own format; None: the generic readers."""
        return None

    def model_input_names(self) -> tuple[str, ...]:
        """What the model built by `build_model` takes: the encoder's three inputs, plus a task's own."""
        return ("input_word_ids", "input_mask", "input_type_ids")

    def build_model(self, encoder) -> keras.Model:
        """Puts this task's head on `encoder`; the model maps encoder inputs to float32 outputs."""
        raise NotImplementedError

    def make_dataset(self, examples, batch_size: int, *, training: bool, seed: int = 0,
                     source: str = "data", with_labels: bool = True) -> tf.data.Dataset:
        """Yields `(features, labels)` batches; features use the encoder's input names.

        For training this is a `tf.data.Dataset` (the loop distributes it). For evaluation and
        prediction it is whatever this task's `predict_outputs` takes: token and span tasks return a
        `FeatureSet` that also remembers how features map back to words and characters.
        """
        raise NotImplementedError

    def loss(self, labels, outputs) -> tf.Tensor:
        """Per-example loss `[B]` (the loop averages it over the global batch)."""
        raise NotImplementedError

    def predict_outputs(self, model, dataset) -> tuple[np.ndarray, np.ndarray | None]:
        """Runs `model` over `dataset`; returns (scores, gold labels or None)."""
        raise NotImplementedError

    def compute_metrics(self, gold, scores) -> dict[str, Any]:
        """Metrics dict (plain numbers and lists, JSON-ready) from `predict_outputs`' results."""
        raise NotImplementedError

    def main_metric(self) -> str:
        """The metric used to choose the best epoch (higher is better)."""
        return "accuracy"

    def format_predictions(self, examples, scores) -> list[dict[str, Any]]:
        raise NotImplementedError
