"""Server-side batching: requests that arrive together run as one model call.

One worker thread owns the model. A request waits at most `timeout_s` after the first request of
a batch arrived, and a model call takes at most `max_batch_size` instances (a larger request is
run in slices of that size), so latency and memory are both bounded. Like TF Serving's batching
options `batch_timeout_micros` and `max_batch_size`.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable

import numpy as np


class Overloaded(Exception):
    """More instances are queued than `max_queued`; the server answers 503 and the client retries."""


class _Pending:
    __slots__ = ("columns", "n", "done", "outputs", "error")

    def __init__(self, columns: dict, n: int):
        self.columns, self.n = columns, n
        self.done = threading.Event()
        self.outputs: dict | None = None
        self.error: BaseException | None = None


class Batcher:
    """Runs `run_fn(columns) -> {name: array [B, ...]}` on batches merged from concurrent requests.

    Args:
        run_fn: the model call; `columns` maps each input name to a list of `B` values.
        max_batch_size: instances per model call.
        timeout_s: how long the first request of a batch waits for others.
        max_queued: instances allowed to wait; beyond it `submit` raises `Overloaded`.
    """

    def __init__(self, run_fn: Callable[[dict], dict], max_batch_size: int = 64, timeout_s: float = 0.005,
                 max_queued: int = 4096):
        if max_batch_size < 1 or timeout_s < 0 or max_queued < max_batch_size:
            raise ValueError("need max_batch_size >= 1, timeout_s >= 0 and max_queued >= max_batch_size")
        self.run_fn = run_fn
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self.max_queued = max_queued
        self._pending: collections.deque[_Pending] = collections.deque()
        self._queued = 0  # instances in `_pending`
        self._cv = threading.Condition()
        self._closed = False
        self.stats = {"requests": 0, "instances": 0, "model_calls": 0, "largest_call": 0}
        self._thread = threading.Thread(target=self._loop, name="bertkit-batcher", daemon=True)
        self._thread.start()

    def submit(self, columns: dict, n: int, timeout_s: float | None = None) -> dict:
        """Queues one request of `n` instances and waits for its outputs (`{name: array [n, ...]}`).

        Raises:
            Overloaded: the queue is full.
            TimeoutError: no answer within `timeout_s`.
            Exception: whatever the model call raised for the batch holding this request.
        """
        item = _Pending(columns, n)
        with self._cv:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._queued + n > self.max_queued:
                raise Overloaded(f"{self._queued} instances are already waiting (limit {self.max_queued}); retry later.")
            self._pending.append(item)
            self._queued += n
            self._cv.notify_all()
        if not item.done.wait(timeout_s):
            raise TimeoutError(f"no answer within {timeout_s} s")
        if item.error is not None:
            raise item.error
        return item.outputs

    def close(self) -> None:
        """Finishes the queued requests, then stops the worker."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join()

    def _next_batch(self) -> list[_Pending] | None:
        with self._cv:
            while not self._pending and not self._closed:
                self._cv.wait()
            if not self._pending:
                return None  # closed and drained
            deadline = time.monotonic() + self.timeout_s
            while self._queued < self.max_batch_size and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cv.wait(remaining)
            batch, n = [], 0
            # Whole requests only; the first one always goes, even if larger than a model call.
            while self._pending and (not batch or n + self._pending[0].n <= self.max_batch_size):
                item = self._pending.popleft()
                batch.append(item)
                n += item.n
            self._queued -= n
            return batch

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                outputs = self._run(batch)
            except Exception as e:  # noqa: BLE001 - handed to every waiting request, the worker lives on
                for item in batch:
                    item.error = e
                    item.done.set()
                continue
            start = 0
            for item in batch:
                item.outputs = {name: array[start:start + item.n] for name, array in outputs.items()}
                start += item.n
                item.done.set()

    def _run(self, batch: list[_Pending]) -> dict:
        names = list(batch[0].columns)
        merged = {name: [v for item in batch for v in item.columns[name]] for name in names}
        total = sum(item.n for item in batch)
        parts = []
        for start in range(0, total, self.max_batch_size):
            parts.append(self.run_fn({name: values[start:start + self.max_batch_size]
                                      for name, values in merged.items()}))
            self.stats["model_calls"] += 1
            self.stats["largest_call"] = max(self.stats["largest_call"], min(self.max_batch_size, total - start))
        self.stats["requests"] += len(batch)
        self.stats["instances"] += total
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
