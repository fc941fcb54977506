"""A one-line progress bar for the terminal: step, loss, examples/s and ETA."""

from __future__ import annotations

import sys
import time


class Progress:
    """Rewrites one stderr line per update; prints a full line at the end of each epoch.

    Args:
        total_steps: steps in the epoch.
        epoch: 1-based epoch number, for the label.
        epochs: number of epochs, for the label.
        stream: where to write (stderr by default, so stdout stays machine-readable).
        enabled: False silences it (tests, library use).
    """

    def __init__(self, total_steps: int, epoch: int, epochs: int, stream=None, enabled: bool = True):
        self.total = total_steps
        self.label = f"epoch {epoch}/{epochs}"
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.start = time.perf_counter()
        self.examples = 0
        self.interactive = getattr(self.stream, "isatty", lambda: False)()
        self._last_print = 0.0
        self._offset = 0

    def start_at(self, step: int) -> None:
        """A resumed epoch starts at `step`: the ETA counts only the steps still to run."""
        self._offset = step

    def update(self, step: int, loss: float, batch_examples: int, lr: float) -> None:
        self.examples += batch_examples
        if not self.enabled:
            return
        now = time.perf_counter()
        # Non-interactive logs (CI, files) get a line every 30 s instead of a rewritten line.
        if not self.interactive and now - self._last_print < 30 and step < self.total:
            return
        self._last_print = now
        elapsed = now - self.start
        rate = self.examples / max(elapsed, 1e-9)
        eta = (self.total - step) * elapsed / max(step - self._offset, 1)
        width = 24
        filled = int(width * step / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        line = (f"{self.label} [{bar}] {step}/{self.total} loss {loss:.4f} lr {lr:.2e} "
                f"{rate:.1f} ex/s ETA {_fmt(eta)}")
        end = "\r" if self.interactive and step < self.total else "\n"
        self.stream.write(line + end)
        self.stream.flush()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
