"""The one in-memory record every reader produces and every task consumes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One input text (or text pair) with its optional label.

    Attributes:
        text_a: the text, or the first text of a pair.
        text_b: the second text of a pair; None for single-text tasks.
        label: int, str, float or list as read from the file; None when unlabelled (predict input).
        guid: where the example came from, e.g. `data/train.jsonl:17` or `train/pos/0_9`; used in
            error messages so a bad row can be found.
    """

    text_a: str
    text_b: str | None = None
    label: object = None
    guid: str | None = None


@dataclass(frozen=True)
class ExampleSplits:
    """Train and evaluation examples already read, passed as `bertkit.train(data=...)` instead of a file.

    `bertkit tune` uses it to train its trials on part of the training data and evaluate them on the
    rest, without writing the examples out again.

    Attributes:
        train: the training examples.
        test: the evaluation examples, or None for a run without evaluation.
        description: where they came from, for logs and the bundle.
        test_file: the file whose rows `test` guids point at (`<file>:<line>`), so the run report can
            read their texts back; None when there is no such file.
    """

    train: list
    test: list | None
    description: str
    test_file: str | None = None
