"""Runs a task's one graph path: examples -> `encode` -> model -> `decode`.

The same two graph functions serve every use, so training features, `predict`, `evaluate` and the
SavedModel export cannot disagree:

* training: `features()` encodes every example (in chunks) into unpadded rows with their labels; the
  loop batches them by length (`bertkit.data.batching`);
* prediction and evaluation: `predict()` encodes a chunk of examples, runs the model over its rows in
  length order (each batch padded only to its own longest row), puts the outputs back in row order and
  decodes them;
* export: `serving_function()` is `encode`, the model on all rows padded together, and `decode`, in
  one graph (`bertkit.export.savedmodel`).

The attention mask makes padding inert, so a row's outputs do not depend on its batch (up to float
summation order, ~1e-6).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertkit.core import graph
from bertkit.core.quiet import quiet_retracing_warnings
from bertkit.data.batching import FeatureSet, run_model
from bertkit.tasks.base import numpy_rows

MODEL_INPUT = tf.TensorSpec([None, None], tf.int32)
quiet_retracing_warnings()


class TaskRunner:
    """A task's graph functions, traced once, with the Keras model they feed.

    Args:
        task: a `bertkit.tasks.Task`.
        model: the Keras model `task.build_model` made (None: `features` only).
    """

    def __init__(self, task, model=None):
        self.task, self.model = task, model
        # encode: see `encode`; decode: reduce_retracing relaxes every dimension at the first retrace.
        self._encode = graph.function(task.encode, reduce_retracing=True)
        self._decode = graph.function(task.decode, reduce_retracing=True)
        if model is not None:
            names = task.model_input_names()
            self.call_model = graph.function(lambda x: model({n: x[n] for n in names}, training=False),
                                             input_signature=[{name: MODEL_INPUT for name in names}])

    def features(self, examples, with_labels: bool = True) -> FeatureSet:
        """Every example's rows (and labels), unpadded: what the training loop batches."""
        parts = [_feature_set(self.encode(columns)) for _, _, columns in self.task.chunks(examples, with_labels)]
        return FeatureSet.concatenate(parts)

    def predict(self, examples, batch_size: int = 64) -> dict:
        """`decode`'s outputs for every example: `{name: array [N, ...] or list of N arrays}`."""
        decoded = []
        for _, _, columns in self.task.chunks(examples, False):
            encoded = self.encode(columns)
            rows = _feature_set(encoded, batch_size)
            outputs = self.run_rows(rows)  # [R, ...] in row order
            decoded.append(to_numpy(self._decode(tf.constant(outputs), encoded["meta"])))
        return merge(decoded)

    def encode(self, columns: dict) -> dict:
        """`task.encode` on one chunk of columns, through one trace for chunks of any size."""
        # The first trace leaves every dimension open; left to reduce_retracing, the first chunk of another
        # size (a short last chunk) traced the whole encode graph again: 1.5-2 s of a small run on a Zen 3.
        self._encode.get_concrete_function(tf.nest.map_structure(_any_size, columns))
        return self._encode(columns)

    def run_rows(self, rows: FeatureSet) -> np.ndarray:
        """Model outputs `[R, ...]` in row order; token outputs padded along T with zeros."""
        out = None
        for index, batch in run_model(self.call_model, rows):
            if out is None:
                width = (int(rows.lengths.max()),) if batch.ndim >= 3 else ()
                out = np.zeros((len(rows), *width, *batch.shape[1 + len(width):]), np.float32)
            if batch.ndim >= 3:  # a batch pads to its own longest row: shorter or longer than the chunk's
                w = min(batch.shape[1], out.shape[1])
                out[index, :w] = batch[:, :w]
            else:
                out[index] = batch
        return out if out is not None else np.zeros((0, 1), np.float32)

    def serving_function(self):
        """`fn(**{input: string [B]}) -> {output: tensor [B, ...]}`: the export's whole graph, ragged outputs
        padded as the signature says."""
        task, model, signature = self.task, self.model, self.task.serving_signature()

        def serve(**inputs):
            encoded = task.encode(inputs)
            rows = encoded["rows"]
            dense = {name: tf.cast(rows[name], tf.int32).to_tensor() for name in rows}  # [R, T]
            dense["input_mask"] = tf.ones_like(rows["input_word_ids"], tf.int32).to_tensor()
            features = {name: dense[name] for name in task.model_input_names()}  # in the model's order
            outputs = tf.cast(model(features, training=False), tf.float32)
            decoded = task.decode(outputs, encoded["meta"])
            return {name: _pad(decoded[name], spec) for name, spec in signature.outputs.items()}

        return serve


def _any_size(value):
    """The type of a column with every dimension open."""
    shape = [None] * value.shape.rank
    if isinstance(value, tf.RaggedTensor):
        return tf.RaggedTensorSpec(shape, value.dtype, value.ragged_rank, value.row_splits.dtype)
    return tf.TensorSpec(shape, value.dtype)


def _pad(value, spec):
    if not isinstance(value, tf.RaggedTensor):
        return value
    shape = None if spec.width is None else [None, spec.width]
    return value.to_tensor(spec.pad, shape=shape)


def _feature_set(encoded: dict, batch_size: int = 64) -> FeatureSet:
    rows = encoded["rows"]
    labels = encoded.get("labels")
    token_labels = isinstance(labels, tf.RaggedTensor)
    if labels is not None:
        labels = numpy_rows(labels) if token_labels else labels.numpy()
    extra = {name: numpy_rows(rows[name]) for name in rows if name not in ("input_word_ids", "input_type_ids")}
    return FeatureSet(numpy_rows(rows["input_word_ids"]), numpy_rows(rows["input_type_ids"]), labels,
                      token_labels=token_labels, batch_size=batch_size, extra_inputs=extra)


def to_numpy(decoded: dict) -> dict:
    """Graph outputs -> numpy: tensors as arrays `[B, ...]`, ragged ones as lists of B arrays; strings
    as Python `str`."""
    out = {}
    for name, value in decoded.items():
        if isinstance(value, tf.RaggedTensor):
            flat = _plain(value.flat_values.numpy())
            splits = value.row_splits.numpy()
            if value.ragged_rank > 1:
                raise ValueError(f"decode output {name!r}: only one ragged dimension is supported")
            out[name] = [flat[a:b] for a, b in zip(splits[:-1], splits[1:])]
        else:
            out[name] = _plain(value.numpy())
    return out


def _plain(array: np.ndarray) -> np.ndarray:
    if array.dtype == object:  # tf.string
        return np.array([b.decode("utf-8") for b in array.reshape(-1)], dtype=object).reshape(array.shape)
    return array


def merge(parts: list[dict]) -> dict:
    """Chunks' `to_numpy` outputs laid end to end."""
    if not parts:
        return {}
    out = {}
    for name in parts[0]:
        values = [p[name] for p in parts]
        out[name] = [row for v in values for row in v] if isinstance(values[0], list) else \
            np.concatenate(values, axis=0) if values[0].ndim else np.stack(values)
    return out
