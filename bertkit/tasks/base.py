"""The task interface (after TF Model Garden's task: build the model, its inputs, its loss, its metrics).

A task turns examples into the graph's input columns, owns the graph steps from those columns to model
rows (`encode`) and from model outputs to answers (`decode`), puts its head on the encoder, and scores
and formats the answers. Training, `predict`, `evaluate` and the SavedModel export all run the same
`encode` / `decode` (`bertkit.tasks.runner`), so they cannot drift apart. The training loop knows only
`loss`.

Contract of the graph steps (see `bertkit.tasks.runner`):

* `encode(columns) -> {"rows": {name: ragged [R, (T)]}, "labels": [R, ...] or ragged [R, (T)] or absent,
  "meta": {...}}`: `rows` holds `input_word_ids`, `input_type_ids` and any extra per-token model input;
  the mask is implied by the row lengths. A row is what the model reads once (a text, a pair, a window).
* `decode(outputs, meta) -> {name: [B, ...] or ragged [B, (n), ...]}`: one entry per example (B), from
  the model outputs of all rows of those examples (`[R, ...]`, padded along T with zeros).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np

from bertkit.core.config import PreprocessConfig, TaskConfig
from bertkit.core.errors import BertkitError
from bertkit.data import Example, load_splits, read_examples, resolve_data, sample_examples


@dataclasses.dataclass(frozen=True)
class TaskOption:
    """One task setting (`bertkit train --task-option NAME=VALUE`), saved in `TaskConfig.extra`.

    Attributes:
        name: the key.
        default: its default; its type is the option's type.
        help: one line for `--help`.
        choices: allowed values, if a fixed set.
    """

    name: str
    default: Any
    help: str
    choices: tuple | None = None

    def parse(self, value) -> Any:
        """`value` converted to the option's type and checked against `choices`."""
        kind = type(self.default)
        try:
            value = kind(value)
        except (TypeError, ValueError):
            raise BertkitError(f"task option {self.name}={value!r}: expected a {kind.__name__}.") from None
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(map(str, self.choices[:-1])) + f" or {self.choices[-1]}"
            raise BertkitError(f"task option {self.name}={value!r}: expected {allowed}.")
        return value


@dataclasses.dataclass(frozen=True)
class Output:
    """One published output of a signature: its description, and for a per-example list (ragged in
    `decode`) the padding value and, if fixed, the padded width."""

    description: str
    pad: Any = None
    width: int | None = None


@dataclasses.dataclass(frozen=True)
class ServingSignature:
    """What a task's SavedModel signature takes and gives.

    Attributes:
        inputs: string inputs `[B]`, in signature order (e.g. ("text",) or ("question", "context")).
        outputs: output name -> `Output`; a subset of `decode`'s outputs.
        info: task facts for clients and the page (labels, ...), JSON-serialisable.
    """

    inputs: tuple
    outputs: dict
    info: dict


class Task:
    """Base class. Each task lives in its own folder `bertkit/tasks/<name>/` and is registered once in
    `bertkit.tasks.TASKS`."""

    name: ClassVar[str] = "base"
    example_types: ClassVar[tuple[type, ...]] = (Example,)  # what this task's readers produce
    options: ClassVar[tuple[TaskOption, ...]] = ()  # settings saved in TaskConfig.extra
    metrics: ClassVar[tuple[str, ...]] = ("accuracy",)  # higher-is-better metrics; the first chooses best epochs

    def __init__(self, config: TaskConfig, preprocess: PreprocessConfig, tokenizer):
        self.config = config
        self.preprocess = preprocess
        self.tokenizer = tokenizer

    # ---- data -------------------------------------------------------------------------------------

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
    def resolve_options(cls, given: dict) -> dict:
        """Every option of this task: its default, or the given value parsed and checked."""
        known = {o.name: o for o in cls.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(sorted(known)) or "none"
            raise BertkitError(f"task {cls.name!r} has no option {unknown[0]!r}; its options are: {names}.")
        return {name: option.parse(given[name]) if name in given else option.default
                for name, option in known.items()}

    def option(self, name: str):
        """A task option of this model; bundles saved before the option existed get its default."""
        option = next(o for o in self.options if o.name == name)
        return option.parse(self.config.extra.get(name, option.default))

    @classmethod
    def configure(cls, train_examples, *, pooling: str, head_dropout: float, source: str, **options) -> TaskConfig:
        """Derives the task config (label list, pair or not) from the training data and the options."""
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

    def read_predict_inputs(self, path) -> list | None:
        """Prediction inputs read from `path` in this task's own format; None: the generic readers."""
        return None

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

    # ---- model ------------------------------------------------------------------------------------

    def model_input_names(self) -> tuple[str, ...]:
        """What the model built by `build_model` takes: the encoder's three inputs, plus a task's own."""
        return ("input_word_ids", "input_mask", "input_type_ids")

    def build_model(self, encoder) -> keras.Model:
        """Puts this task's head on `encoder`; the model maps encoder inputs to float32 outputs."""
        raise NotImplementedError

    def loss(self, labels, outputs):
        """Per-row loss `[B]` (the loop averages it over the global batch)."""
        raise NotImplementedError

    def main_metric(self) -> str:
        """The metric used to choose the best epoch (higher is better): the first of `metrics`."""
        return self.metrics[0]

    # ---- the graph path ---------------------------------------------------------------------------

    def chunks(self, examples, with_labels: bool):
        """Host side: yields `(start, stop, columns)` for consecutive ranges of `examples`, where
        `columns` are the inputs of `encode` (tensors; `label*` entries only `with_labels`)."""
        raise NotImplementedError

    def encode(self, columns: dict) -> dict:
        """Graph: input columns -> model rows, labels and what `decode` needs (module docstring)."""
        raise NotImplementedError

    def decode(self, outputs, meta: dict) -> dict:
        """Graph: model outputs of the rows -> named answers per example (module docstring)."""
        raise NotImplementedError

    def serving_signature(self) -> ServingSignature:
        """The raw-text SavedModel signature: which inputs `encode` takes there and which `decode`
        outputs are published."""
        raise NotImplementedError

    # ---- answers ----------------------------------------------------------------------------------

    def gold(self, examples):
        """The gold answers of labelled examples, in the form `compute_metrics` takes."""
        raise NotImplementedError

    def scores(self, predictions: dict):
        """`BertkitModel.predict_scores`: the task's scores from `decode`'s outputs (class probabilities
        `[N, K]` for classification)."""
        raise NotImplementedError

    def compute_metrics(self, gold, predictions: dict) -> dict[str, Any]:
        """Metrics dict (plain numbers and lists, JSON-ready)."""
        raise NotImplementedError

    def format_predictions(self, examples, predictions: dict) -> list[dict[str, Any]]:
        """One JSON-ready dict per example (what `bertkit predict` prints)."""
        raise NotImplementedError

    @classmethod
    def report_sections(cls, info, data, out: Path) -> list:
        """This task's own analysis for the run report (`bertkit.report`): a list of `Section`s."""
        return []


def contiguous_chunks(n: int, size: int):
    """`(start, stop)` ranges of at most `size` covering `range(n)`."""
    for start in range(0, n, size):
        yield start, min(n, start + size)


def numpy_rows(ragged) -> list[np.ndarray]:
    """A ragged `[R, (T)]` tensor -> R numpy rows."""
    values, splits = ragged.flat_values.numpy(), ragged.row_splits.numpy()
    return np.split(values, splits[1:-1]) if len(splits) > 1 else []

