"""TensorFlow's start-up notices kept off the terminal of a `bertkit` command.

Importing TensorFlow and probing for GPUs logs through Abseil before Abseil is initialised, and such
lines go to stderr whatever `TF_CPP_MIN_LOG_LEVEL` says (abseil-cpp issues #1570 and #1957): "All log
messages before absl::InitializeLog() ...", "Could not find cuda drivers", "failed call to cuInit" on a
machine without a GPU, the CPU-instructions and oneDNN notices. No setting turns them off, so the CLI
imports TensorFlow with stderr (file descriptor 2) redirected to a temporary file and then writes back
every captured line that is not one of those known notices: anything else (a real error, a failing
import) still reaches the terminal, in order. Later TensorFlow logging is kept to errors by
`TF_CPP_MIN_LOG_LEVEL=2` unless the user set it. `--verbose` (or `BERTKIT_VERBOSE=1`) shows everything.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

NOTICES = re.compile("|".join([
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r"^[IWE]\d{4} [\d:. ]+\d+ cudart_stub\.cc:\d+\] Could not find (cuda drivers on your machine|'cudart)",
    r"^[IWE]\d{4} [\d:. ]+\d+ cuda_(platform|executor|diagnostics)\.cc:\d+\]",  # no GPU / no driver
    r"^[IWE]\d{4} [\d:. ]+\d+ cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$",
    r"^[IWE]\d{4} [\d:. ]+\d+ port\.cc:\d+\] oneDNN custom operations are on",
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$",  # LiteRT, on every interpreter
]))


class RetracingFilter:
    """Drops TensorFlow's "N out of the last M calls to <...> triggered tf.function retracing" warning.

    Every `TaskRunner` wraps its task's `encode` / `decode` in a new `tf.function`, traced once per input
    structure; TensorFlow counts traces per Python method across all instances, so a process that trains
    several models (a notebook, `bertkit tune`, a benchmark) crosses its threshold of five with no retracing
    problem to fix."""

    def filter(self, record) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_retracing_warnings() -> None:
    """Installs `RetracingFilter` on TensorFlow's logger, once, unless verbose output was asked for."""
    if verbose_requested():
        return
    import logging

    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, RetracingFilter) for f in logger.filters):
        logger.addFilter(RetracingFilter())


_STATE = {"verbose": False}


def verbose_requested(flag: bool = False) -> bool:
    return flag or _STATE["verbose"] or os.environ.get("BERTKIT_VERBOSE", "") not in ("", "0")


def import_tensorflow(verbose: bool = False) -> None:
    """Imports TensorFlow and tensorflow-text and probes the devices, dropping only the known notices."""
    if verbose_requested(verbose):
        _STATE["verbose"] = True  # --verbose: later blocks (the LiteRT interpreter) show theirs too; not put
        # in os.environ, which child processes (and later commands run in this process's tests) would inherit
        import tensorflow as tf
        import tensorflow_text  # noqa: F401

        tf.config.list_physical_devices("GPU")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with known_notices_dropped():
        import tensorflow as tf
        import tensorflow_text  # noqa: F401

        tf.config.list_physical_devices("GPU")  # the CUDA probe, while its notices are captured


@contextlib.contextmanager
def known_notices_dropped():
    """Captures file descriptor 2 while the block runs, then writes back every line but the known notices
    (`--verbose` / BERTKIT_VERBOSE: nothing is captured)."""
    if verbose_requested():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                    if not NOTICES.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
