"""tf.data input pipelines: raw text -> exact WordPiece ids -> packed encoder inputs, in the graph.

Tokenization runs once per dataset in batches (vectorised tensorflow-text ops, parallel map) and the
packed features are cached in memory, so later epochs only shuffle and batch.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertkit.config import PreprocessConfig
from bertkit.features import pack_inputs

ENCODE_BATCH = 256  # texts per vectorised tokenizer call


def make_encode_fn(tokenizer, preprocess: PreprocessConfig, is_pair: bool):
    """Returns a graph function mapping `{"text_a": [B] (, "text_b": [B])}` to encoder inputs."""

    def encode(texts):
        ids_a = tokenizer(texts["text_a"])  # [B, (pieces)]
        ids_b = tokenizer(texts["text_b"]) if is_pair else None
        return pack_inputs(
            ids_a, ids_b, preprocess.max_seq_length, cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
            truncation=preprocess.truncation, head_fraction=preprocess.head_fraction,
        )  # each [B, T]

    return encode


def text_dataset(texts_a, texts_b, labels, tokenizer, preprocess: PreprocessConfig, batch_size: int, *,
                 training: bool, seed: int = 0, label_dtype=tf.int32) -> tf.data.Dataset:
    """Builds the dataset of `(features, labels)` (or `features` alone when `labels` is None).

    Args:
        texts_a: list of first texts.
        texts_b: list of second texts for pair tasks, else None.
        labels: array of label ids / targets aligned with the texts, or None for prediction.
        tokenizer: a `bertkit.tokenization.Tokenizer`.
        preprocess: sequence length and truncation.
        batch_size: examples per batch (global batch under a distribution strategy).
        training: shuffle (seeded, differently each epoch) and drop nothing; eval keeps order.
        seed: shuffle seed.
        label_dtype: dtype of the labels tensor.
    """
    texts = {"text_a": tf.constant(list(texts_a), tf.string)}
    if texts_b is not None:
        texts["text_b"] = tf.constant(list(texts_b), tf.string)
    encode = make_encode_fn(tokenizer, preprocess, texts_b is not None)
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(ENCODE_BATCH)
    ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    if labels is not None:
        labels_ds = tf.data.Dataset.from_tensor_slices(tf.constant(np.asarray(labels), label_dtype))
        ds = tf.data.Dataset.zip((ds, labels_ds))
    ds = ds.cache()
    if training:
        ds = ds.shuffle(len(texts_a), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
