"""Shared by the sentence-level tasks other than classify (multilabel, regression): pair detection,
the text pipeline and the prediction loop."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertkit.errors import BertkitError
from bertkit.pipeline import text_dataset


def detect_pair(examples, source: str) -> bool:
    """True when every example has text_b, False when none has; a mix is an error naming one row."""
    has_b = {e.text_b is not None for e in examples}
    if len(has_b) > 1:
        first = next(e.guid for e in examples if e.text_b is None)
        raise BertkitError(f"{source}: some rows have text_b and some do not (e.g. {first} lacks it); "
                           "a pair task needs text_b on every row.")
    return has_b == {True}


def sentence_dataset(task, examples, labels, batch_size, *, training, seed, source, label_dtype=tf.float32):
    """`text_dataset` for `task`'s examples, checking that pair models get pairs."""
    if task.config.is_pair:
        bad = next((e for e in examples if e.text_b is None), None)
        if bad is not None:
            raise BertkitError(f"{source}: example {bad.guid}: this model takes sentence pairs but the row "
                               "has no text_b.")
    texts_b = [e.text_b for e in examples] if task.config.is_pair else None
    return text_dataset([e.text_a for e in examples], texts_b, labels, task.tokenizer, task.preprocess, batch_size,
                        training=training, seed=seed, label_dtype=label_dtype)


def run_pooled(model, dataset, width: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Model outputs `[N, width]` over `dataset` and the gold labels (None when unlabelled)."""
    step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    outputs, gold = [], []
    for batch in dataset:
        feats, labels = batch if isinstance(batch, tuple) else (batch, None)
        outputs.append(step(feats).numpy())
        if labels is not None:
            gold.append(labels.numpy())
    out = np.concatenate(outputs).astype(np.float64) if outputs else np.zeros((0, width))
    return out, (np.concatenate(gold) if gold else None)
