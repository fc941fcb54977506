"""The run's history: one JSON object per line (`history.jsonl`) plus TensorBoard scalars."""

from __future__ import annotations

import json
import os
from pathlib import Path

import tensorflow as tf


class History:
    """Appends step and epoch records; each line is flushed so a killed run keeps what it logged.

    Args:
        run_dir: the run folder; `history.jsonl` and `tensorboard/` are written there. None keeps
            the records in memory only.
    """

    def __init__(self, run_dir: str | os.PathLike | None):
        self.records: list[dict] = []
        self._file = None
        self._writer = None
        if run_dir is not None:
            run_dir = Path(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(run_dir / "history.jsonl", "a", encoding="utf-8")
            self._writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))

    def log(self, kind: str, step: int, **values) -> None:
        """Records `values` at optimizer step `step`; `kind` is "train", "eval" or "epoch"."""
        record = {"kind": kind, "step": int(step), **values}
        self.records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record, default=_plain) + "\n")
            self._file.flush()
        if self._writer is not None:
            with self._writer.as_default(step=int(step)):
                for key, value in values.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        tf.summary.scalar(f"{kind}/{key}", float(value))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
