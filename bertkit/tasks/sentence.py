"""What the sentence-level tasks (classify, multilabel, regression) share: one text or a pair per example,
packed into one row with the tokenizer's template (`[CLS] a [SEP] (b [SEP])` for BERT) in the graph, and a
head on the pooled output."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertkit.core.errors import BertkitError
from bertkit.modeling.heads import PooledHead
from bertkit.tasks.base import Task, contiguous_chunks
from bertkit.tokenization.packing import pack_inputs

CHUNK_TEXTS = 2048  # texts per encode call; prediction sorts a chunk by length, so wider chunks pad less


def detect_pair(examples, source: str) -> bool:
    """True when every example has text_b, False when none has; a mix is an error naming one row."""
    has_b = {e.text_b is not None for e in examples}
    if len(has_b) > 1:
        first = next(e.guid for e in examples if e.text_b is None)
        raise BertkitError(f"{source}: some rows have text_b and some do not (e.g. {first} lacks it); "
                           "a pair task needs text_b on every row.")
    return has_b == {True}


class SentenceTask(Task):
    """A task on single texts or pairs with a pooled head of `units` outputs.

    Subclasses give `units`, `labels_of(examples)` (the training targets `[N, ...]`) and `decode`.
    """

    label_dtype = tf.float32

    @property
    def units(self) -> int:
        raise NotImplementedError

    def labels_of(self, examples) -> np.ndarray:
        raise NotImplementedError

    def build_model(self, encoder):
        return PooledHead(encoder, self.units, pooling=self.config.pooling, dropout=self.config.head_dropout)

    @property
    def input_names(self) -> tuple:
        return ("text", "text_b") if self.config.is_pair else ("text",)

    def chunks(self, examples, with_labels: bool):
        examples = self.as_examples(examples)
        if self.config.is_pair:
            bad = next((e for e in examples if e.text_b is None), None)
            if bad is not None:
                raise BertkitError(f"{bad.guid}: this model takes sentence pairs but the row has no text_b.")
        labels = self.labels_of(examples) if with_labels else None
        for start, stop in contiguous_chunks(len(examples), CHUNK_TEXTS):
            part = examples[start:stop]
            columns = {"text": tf.constant([e.text_a for e in part], tf.string)}
            if self.config.is_pair:
                columns["text_b"] = tf.constant([e.text_b for e in part], tf.string)
            if labels is not None:
                columns["label"] = tf.constant(labels[start:stop], self.label_dtype)
            yield start, stop, columns

    def encode(self, columns: dict) -> dict:
        """`text` (, `text_b`) `[B]` -> one packed row per example (truncated to max_seq_length)."""
        text, text_b = columns["text"], columns.get("text_b")
        tokenizer, pre = self.tokenizer, self.preprocess
        packed = pack_inputs(tokenizer(text), tokenizer(text_b) if text_b is not None else None,
                             pre.max_seq_length, template=tokenizer.template, truncation=pre.truncation,
                             head_fraction=pre.head_fraction)  # each [B, max_seq_length]
        lengths = tf.reduce_sum(packed["input_mask"], axis=1)  # [B]
        rows = {name: tf.RaggedTensor.from_tensor(packed[name], lengths=lengths)
                for name in ("input_word_ids", "input_type_ids")}  # [B, (T)]
        encoded = {"rows": rows, "meta": {}}
        if "label" in columns:
            encoded["labels"] = columns["label"]
        return encoded

    def format_predictions(self, examples, predictions) -> list[dict]:
        out = []
        for i, e in enumerate(self.as_examples(examples)):
            row = {"text": e.text_a}
            if e.text_b is not None:
                row["text_b"] = e.text_b
            row.update(self.format_row(predictions, i))
            out.append(row)
        return out

    def format_row(self, predictions: dict, i: int) -> dict:
        raise NotImplementedError

