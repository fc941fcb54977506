"""Serving a model bundle directly, for the task a SavedModel export cannot hold yet (qa).

Its windowing and n-best span decoding run in numpy (`bertkit.load(...).predict`), so the server runs
the bundle in-process behind the same REST API and batching as an export. The answers keep TF Serving's
shapes (`{"predictions": [...]}` rows, `{"outputs": ...}` columns) with structured values:

* qa: `question`, `context` -> `answer`, `start`, `end` (character offsets into the context), `score`.

A real TF Serving cannot serve these models (there is no SavedModel); the metadata says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# The served inputs and outputs of each bundle-only task (outputs: field of `predict`'s rows -> description).
TASK_IO = {
    "qa": (("question", "context"), {"answer": "answer text from the context", "start": "character offset",
                                     "end": "character offset (exclusive)", "score": "start + end logit",
                                     "probability": "softmax of the score over the n-best answers"}),
}


class BundleServedModel:
    """A `bertkit train` bundle served in-process: `.info`, `.inputs`, `.signature_defs`, `.run(columns)`."""

    def __init__(self, bundle: Path):
        from bertkit.api import load

        self.model = load(bundle)
        task = self.model.task_config.task
        self.inputs, self._outputs = TASK_IO[task]
        self.info = {"task": task, "inputs": list(self.inputs), "outputs": dict(self._outputs), "labels": [],
                     "is_pair": False, "preprocess": self.model.preprocess.to_dict(), "source": "bundle"}
        self.signature_defs = {"signature_def": {"serving_default": {
            "inputs": {name: {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}, "name": name}
                       for name in self.inputs},
            "outputs": {name: {"dtype": "DT_STRING" if name == "answer" else "DT_FLOAT" if name in (
                "score", "probability") else "DT_INT32",
                               "tensor_shape": {"dim": [{"size": "-1"}]}, "name": name} for name in self._outputs},
            "method_name": "tensorflow/serving/predict",
            "bertkit_note": "served from a bertkit bundle (no SavedModel): TF Serving cannot serve this task"}}}
        self.run({name: [b"warm up"] for name in self.inputs})  # the first call traces the model

    def check(self, columns: dict) -> str | None:
        """What is wrong with a request's instances (checked before batching), or None."""
        for name in ("question", "context"):
            empty = next((i for i, v in enumerate(columns[name]) if not v.strip()), None)
            if empty is not None:
                return f"instance {empty}: the {name} is empty; a QA model needs a question and a context."
        return None

    def run(self, columns: dict) -> dict:
        """`{input: [B] bytes}` -> `{output: object array [B]}` of JSON-ready values."""
        texts = {name: [v.decode("utf-8", errors="replace") for v in values] for name, values in columns.items()}
        rows = self.model.predict(list(zip(texts["question"], texts["context"])))
        out = {}
        for name in self._outputs:
            column = np.empty(len(rows), dtype=object)
            column[:] = [row[name] for row in rows]
            out[name] = column
        return out
