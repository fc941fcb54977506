"""The TF Hub tutorial's names, backed by bertkit's implementation.

The notebook "Predicting Movie Reviews with BERT on TF Hub" (and Google's `run_classifier.py`) use
`FullTokenizer`, `InputExample`, `convert_examples_to_features`, `input_fn_builder` and
`hub.KerasLayer`. The same names work here with the same signatures; each one delegates to bertkit's
tokenizer, packing and pipeline, so there is no second copy of the logic.

    from bertkit.compat import FullTokenizer, InputExample, convert_examples_to_features, KerasLayer
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from bertkit.core.errors import BertkitError
from bertkit.tokenization.packing import pack_inputs
from bertkit.tokenization.wordpiece import Tokenizer


class FullTokenizer:
    """`tokenization.FullTokenizer(vocab_file, do_lower_case)` of google-research/bert.

    Attributes:
        vocab: token -> id, as the original's `vocab` (an OrderedDict there).
        inv_vocab: id -> token.
    """

    def __init__(self, vocab_file: str, do_lower_case: bool = True):
        self.tokenizer = Tokenizer(vocab_file, do_lower_case)
        self.vocab = {token: i for i, token in enumerate(self.tokenizer.vocab)}
        self.inv_vocab = dict(enumerate(self.tokenizer.vocab))

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def convert_tokens_to_ids(self, tokens) -> list[int]:
        return self.tokenizer.convert_tokens_to_ids(tokens)

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(ids)


def create_tokenizer_from_hub_module(bert_model: str | None = None) -> FullTokenizer:
    """The tutorial's helper, reading vocab and casing from a local model folder instead of a hub
    module (default: the packaged all-MiniLM-L6-v2)."""
    from bertkit.weights import default_model_path, load_pretrained

    pretrained = load_pretrained(bert_model or default_model_path())
    return FullTokenizer(pretrained.vocab_file, pretrained.do_lower_case)


@dataclasses.dataclass
class InputExample:
    """A single training/test example, as in `run_classifier.py`."""

    guid: object
    text_a: str
    text_b: str | None = None
    label: object = None


class PaddingInputExample:
    """Fake example used to pad a batch to a fixed size (TPU habit); it becomes all-zero features."""


@dataclasses.dataclass
class InputFeatures:
    """Padded features of one example: the tutorial's field names."""

    input_ids: list
    input_mask: list
    segment_ids: list
    label_id: int
    is_real_example: bool = True


def _label_map(label_list):
    return {label: i for i, label in enumerate(label_list)}


def convert_examples_to_features(examples: Sequence, label_list, max_seq_length: int,
                                 tokenizer: FullTokenizer) -> list[InputFeatures]:
    """`run_classifier.convert_examples_to_features`: official packing and truncation (single texts
    keep their head; pairs are truncated longest-first), computed by bertkit's in-graph pipeline.

    Args:
        examples: `InputExample`s (or `PaddingInputExample`s).
        label_list: the labels in id order, e.g. `[0, 1]`.
        max_seq_length: padded length including [CLS] and [SEP].
        tokenizer: a `FullTokenizer` (or a bertkit `Tokenizer`).

    Returns:
        One `InputFeatures` per example.
    """
    tok = tokenizer.tokenizer if isinstance(tokenizer, FullTokenizer) else tokenizer
    label_map = _label_map(label_list)
    real = [e for e in examples if not isinstance(e, PaddingInputExample)]
    is_pair = any(e.text_b is not None for e in real)
    packed = {}
    if real:
        ids_b = tok([e.text_b or "" for e in real]) if is_pair else None
        packed = pack_inputs(tok([e.text_a for e in real]), ids_b, max_seq_length, cls_id=tok.cls_id,
                             sep_id=tok.sep_id, truncation="head")
        packed = {k: v.numpy() for k, v in packed.items()}  # each [N, max_seq_length]
    features, row = [], 0
    for example in examples:
        if isinstance(example, PaddingInputExample):
            zeros = [0] * max_seq_length
            features.append(InputFeatures(zeros, list(zeros), list(zeros), 0, is_real_example=False))
            continue
        if example.label not in label_map:
            raise BertkitError(f"example {example.guid}: label {example.label!r} is not in label_list "
                               f"{list(label_list)}.")
        features.append(InputFeatures(
            input_ids=packed["input_word_ids"][row].tolist(), input_mask=packed["input_mask"][row].tolist(),
            segment_ids=packed["input_type_ids"][row].tolist(), label_id=label_map[example.label]))
        row += 1
    return features


def input_fn_builder(features: Sequence[InputFeatures], seq_length: int, is_training: bool,
                     drop_remainder: bool):
    """`run_classifier.input_fn_builder`: returns `input_fn(params)` giving a `tf.data.Dataset` of dicts
    with `input_ids`, `input_mask`, `segment_ids`, `label_ids` (`params["batch_size"]` per batch)."""
    arrays = {
        "input_ids": np.asarray([f.input_ids for f in features], np.int32).reshape(-1, seq_length),
        "input_mask": np.asarray([f.input_mask for f in features], np.int32).reshape(-1, seq_length),
        "segment_ids": np.asarray([f.segment_ids for f in features], np.int32).reshape(-1, seq_length),
        "label_ids": np.asarray([f.label_id for f in features], np.int32),
    }

    def input_fn(params):
        ds = tf.data.Dataset.from_tensor_slices(arrays)
        if is_training:
            ds = ds.repeat().shuffle(buffer_size=100)
        return ds.batch(params["batch_size"], drop_remainder=drop_remainder)

    return input_fn


class KerasLayer(keras.layers.Layer):
    """Stands in for `hub.KerasLayer(handle, trainable=True)` on a BERT encoder under Keras 3.

    `handle` is a local model folder in any format bertkit reads. Called with a list
    `[input_word_ids, input_mask, input_type_ids]` it returns `[pooled_output, sequence_output]`
    (the TF Hub v1/v2 interface); called with a dict it returns the dict of outputs (v3+).
    """

    def __init__(self, handle: str, trainable: bool = True, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        from bertkit.weights import load_pretrained

        self.pretrained = load_pretrained(handle)
        self.encoder = self.pretrained.encoder
        self.encoder.trainable = trainable
        # What the tutorial read through `bert_module(signature="tokenization_info")`.
        self.vocab_file = self.pretrained.vocab_file
        self.do_lower_case = self.pretrained.do_lower_case

    def call(self, inputs, training=None):
        if isinstance(inputs, dict):
            return self.encoder(inputs, training=training)
        ids, mask, types = inputs
        out = self.encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types},
                           training=training)
        return [out["pooled_output"], out["sequence_output"]]
