"""Shared helpers for benchmark scripts: versions, machine facts, JSON results written atomically."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()}


def versions() -> dict:
    import keras
    import numpy
    import tensorflow as tf
    import tensorflow_text

    import bertkit

    return {"bertkit": bertkit.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "tensorflow_text": tensorflow_text.__version__, "numpy": numpy.__version__}


def write_result(name: str, result: dict) -> Path:
    from bertkit.core.io import atomic_write_text

    result = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **result}
    path = RESULTS / f"{name}.json"
    atomic_write_text(path, json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return path
