"""Shared helpers for benchmark scripts: versions, machine facts, JSON results written atomically."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


# CPU features that decide TensorFlow's and LiteRT's kernels (bf16, int8 dot products).
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def machine() -> dict:
    """The CPU as /proc/cpuinfo names it (family and model tell Zen 3 / 4 / 5 apart), the flags that matter,
    and TF_ENABLE_ONEDNN_OPTS (bertkit sets it to 1 on import; TensorFlow's own default depends on the flags)."""
    info = {}
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {"cpu": info.get("model name", ""), "cpu_family": info.get("cpu family"), "cpu_model": info.get("model"),
            "flags": [f for f in FLAGS if f in flags], "cores": os.cpu_count(), "load_average": os.getloadavg(),
            "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "python": sys.version.split()[0], "platform": platform.platform()}


def commit() -> str | None:
    """The checkout's commit (with "+dirty" when the package's or the benchmarks' tracked code differs from it),
    or None outside git: a run's speed belongs to the code that ran it."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=RESULTS.parents[1], capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return None
    dirty = git("diff", "--quiet", "HEAD", "--", "bertkit", "benchmarks", ":(exclude)benchmarks/results").returncode != 0
    return head.stdout.strip() + ("+dirty" if dirty else "")


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
