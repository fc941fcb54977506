"""The trials' data: the training split cut (seeded) into the part the trials train on and the part they
are scored on, so the search never sees the real dev/test split; that one is used once, at the end, to
evaluate the best settings retrained on all the training data."""

from __future__ import annotations

import numpy as np

from bertkit.core.config import TrainConfig
from bertkit.core.errors import BertkitError
from bertkit.data import ExampleSplits, resolve_data, sample_per_class


def search_splits(task_cls, data, config: TrainConfig, fraction: float) -> ExampleSplits:
    """Reads `data` as `bertkit train` would (same sampling) and holds out `fraction` of its training
    examples, chosen with `config.seed`.

    Raises:
        BertkitError: `data` has no dev or test split (the final evaluation needs one), or the held-out or
            the remaining part would be empty.
    """
    train, test, description = task_cls.read_data(data, train_samples=config.train_samples,
                                                  test_samples=config.test_samples, seed=config.seed)
    if not test:
        raise BertkitError(
            f"--data {data}: no dev or test split to evaluate the best settings on ({description}). Put a dev.jsonl "
            "(or test.jsonl, in the training file's format) beside the training file, or pass a folder holding "
            "train.* and dev.*; the search itself scores its trials on a held-out part of the training data.")
    if config.samples_per_class:
        train = sample_per_class(train, config.samples_per_class, config.seed)
    held = int(round(len(train) * fraction))
    if held < 1 or held >= len(train):
        raise BertkitError(f"--search-fraction {fraction} of {len(train)} training examples leaves "
                           f"{'no held-out' if held < 1 else 'no training'} examples; use more training data "
                           "or another --search-fraction.")
    order = np.random.default_rng(config.seed).permutation(len(train))
    dev_idx, train_idx = np.sort(order[:held]), np.sort(order[held:])
    source = _train_file(data)
    return ExampleSplits(
        train=[train[i] for i in train_idx], test=[train[i] for i in dev_idx],
        description=f"{description}; search split: {len(train_idx):,} to train, {held:,} held out "
                    f"(--search-fraction {fraction}, seed {config.seed})",
        test_file=str(source) if source is not None and source.is_file() else None)


def _train_file(data):
    """The training file the held-out guids (`<file>:<line>`) point at, for the trials' reports; None when
    a task reads its training data otherwise (e.g. qa cutting one SQuAD file by article)."""
    try:
        return resolve_data(data, "train")
    except BertkitError:
        return None
