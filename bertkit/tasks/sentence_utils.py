"""Shared by the sentence-level tasks other than classify (multilabel, regression): pair detection,
the text pipeline and the prediction loop."""

from __future__ import annotations

import numpy as np

from bertkit.errors import BertkitError
from bertkit.pipeline import predict_rows, sentence_features, text_dataset


def detect_pair(examples, source: str) -> bool:
    """True when every example has text_b, False when none has; a mix is an error naming one row."""
    has_b = {e.text_b is not None for e in examples}
    if len(has_b) > 1:
        first = next(e.guid for e in examples if e.text_b is None)
        raise BertkitError(f"{source}: some rows have text_b and some do not (e.g. {first} lacks it); "
                           "a pair task needs text_b on every row.")
    return has_b == {True}


def sentence_dataset(task, examples, labels, batch_size, *, training, seed, source, label_dtype=np.float32):
    """The length-bucketed pipeline (`bertkit.pipeline`) for `task`'s examples, checking that pair
    models get pairs. Training: a `tf.data.Dataset`; evaluation: a `FeatureSet` for `run_pooled`."""
    if task.config.is_pair:
        bad = next((e for e in examples if e.text_b is None), None)
        if bad is not None:
            raise BertkitError(f"{source}: example {bad.guid}: this model takes sentence pairs but the row "
                               "has no text_b.")
    texts_b = [e.text_b for e in examples] if task.config.is_pair else None
    labels = None if labels is None else np.asarray(labels, label_dtype)
    features = sentence_features([e.text_a for e in examples], texts_b, labels, task.tokenizer, task.preprocess,
                                 examples, batch_size)
    return text_dataset(features, batch_size, training=training, seed=seed)


def run_pooled(model, features, width: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Model outputs `[N, width]` over `features` in input order, and the gold labels (None when unlabelled)."""
    return predict_rows(model, features, width)
