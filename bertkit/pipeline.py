"""Input pipelines for the sentence-level tasks: raw text -> exact WordPiece ids -> packed rows, once.

Tokenization and packing run in a `tf.data` graph (vectorised tensorflow-text ops, parallel map over
batches of 256 texts), once per dataset: the rows are kept unpadded, so later epochs only reorder
them. Batches are then padded to their own longest row (rounded up to a multiple of 8), never to
`max_seq_length`:

* training batches come from a seeded, length-bucketed order (`bertkit.batching.bucketed_order`), so
  short texts (SST-2 averages ~13 words) cost what they hold, not 128 tokens;
* evaluation and prediction walk the rows sorted by length and put the outputs back in input order.

The attention mask makes the padding inert, so a row's outputs do not depend on how much padding its
batch has (up to float summation order, ~1e-6).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertkit.config import PreprocessConfig
from bertkit.features import pack_inputs
from bertkit.batching import FeatureSet, run_model, training_dataset

ENCODE_BATCH = 256  # texts per vectorised tokenizer call


def make_encode_fn(tokenizer, preprocess: PreprocessConfig, is_pair: bool):
    """Returns a graph function mapping `{"text_a": [B] (, "text_b": [B])}` to encoder inputs `[B, T]`."""

    def encode(texts):
        ids_a = tokenizer(texts["text_a"])  # [B, (pieces)]
        ids_b = tokenizer(texts["text_b"]) if is_pair else None
        return pack_inputs(
            ids_a, ids_b, preprocess.max_seq_length, cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
            truncation=preprocess.truncation, head_fraction=preprocess.head_fraction,
        )  # each [B, max_seq_length]

    return encode


def encode_texts(texts_a, texts_b, tokenizer, preprocess: PreprocessConfig) -> tuple[list, list]:
    """Packs every text (pair) into `[CLS] a [SEP] (b [SEP])` rows, unpadded.

    Args:
        texts_a: first texts.
        texts_b: second texts for pair tasks, else None.
        tokenizer: a `bertkit.tokenization.Tokenizer`.
        preprocess: sequence length and truncation.

    Returns:
        `(word_ids, type_ids)`: two lists with one int32 array `[T_i]` per text, `T_i <= max_seq_length`.
    """
    texts = {"text_a": tf.constant(list(texts_a), tf.string)}
    if texts_b is not None:
        texts["text_b"] = tf.constant(list(texts_b), tf.string)
    encode = make_encode_fn(tokenizer, preprocess, texts_b is not None)
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(ENCODE_BATCH)
    ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
    word_rows, type_rows = [], []
    for packed in ds:
        ids, types = packed["input_word_ids"].numpy(), packed["input_type_ids"].numpy()  # [B, T]
        for row, n in enumerate(packed["input_mask"].numpy().sum(axis=1)):  # real tokens per row
            word_rows.append(ids[row, :n])
            type_rows.append(types[row, :n])
    return word_rows, type_rows


def sentence_features(texts_a, texts_b, labels, tokenizer, preprocess: PreprocessConfig, examples,
                      batch_size: int = 64) -> FeatureSet:
    """The packed rows of `texts_a` (and `texts_b`) with their labels (`[N, ...]` or None)."""
    word_rows, type_rows = encode_texts(texts_a, texts_b, tokenizer, preprocess)
    return FeatureSet(word_rows, type_rows, None if labels is None else np.asarray(labels), list(examples),
                      token_labels=False, batch_size=batch_size)


def text_dataset(features: FeatureSet, batch_size: int, *, training: bool, seed: int = 0):
    """Training: a `tf.data.Dataset` of bucketed `(features, labels)` batches, reshuffled per pass.
    Evaluation / prediction: the `FeatureSet` itself (`predict_rows` walks it by length)."""
    if training:
        return training_dataset(features, batch_size, seed)
    features.batch_size = batch_size
    return features


def predict_rows(model, features: FeatureSet, width: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Model outputs `[N, width]` in input order (batches run by length) and the gold labels or None."""
    out = np.zeros((len(features), width), np.float64)
    for index, outputs, _ in run_model(model, features):
        out[index] = np.asarray(outputs, np.float64).reshape(len(index), width)
    gold = None if features.labels is None else np.asarray(features.labels)
    return out, gold
