"""Choosing the Keras mixed-precision policy for the machine at hand."""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from bertkit.core.config import PRECISIONS
from bertkit.core.errors import BertkitError



def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (AVX512_BF16 or AMX), where oneDNN runs bf16
    matmuls about twice as fast as fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_policy(name: str) -> str:
    """Maps "auto" to a concrete policy: bf16 on GPUs/CPUs that support it, else float32."""
    if name not in PRECISIONS:
        raise BertkitError(f"--mixed-precision must be one of {PRECISIONS}, got {name!r}.")
    if name != "auto":
        return name
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        major = (details.get("compute_capability") or (0, 0))[0]
        return "mixed_bfloat16" if major >= 8 else "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def set_policy(name: str) -> str:
    """Sets the global Keras policy; returns the concrete policy name."""
    policy = resolve_policy(name)
    keras.mixed_precision.set_global_policy(policy)
    return policy


@contextlib.contextmanager
def policy_scope(name: str | None):
    """Sets the global Keras policy for the `with` block (None keeps the current one) and restores the
    previous policy after it; yields the concrete policy name. Layers keep the policy they were built
    under, so a model built inside the block computes in it afterwards too."""
    previous = keras.mixed_precision.global_policy()
    try:
        yield set_policy(name) if name is not None else previous.name
    finally:
        keras.mixed_precision.set_global_policy(previous)
