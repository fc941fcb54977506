"""Choosing the `tf.distribute.Strategy`: TensorFlow's own engines, never a home-made scheme.

* `default`: one device (the CPU or one GPU).
* `mirrored`: synchronous data parallelism over the GPUs of this machine.
* `multi-worker`: `MultiWorkerMirroredStrategy` over the hosts that `TF_CONFIG` describes.
* `tpu`: `TPUStrategy` on the TPU named by `--tpu` (or `TPU_NAME`).
* `auto`: `multi-worker` when `TF_CONFIG` describes a cluster of more than one worker, `tpu` when a
  TPU is named, `mirrored` when several GPUs are visible, else `default`.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from bertkit.core.errors import BertkitError

STRATEGIES = ("auto", "default", "mirrored", "multi-worker", "tpu")
_CACHE: dict[str, tf.distribute.Strategy] = {}


def _cluster_workers() -> int:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BertkitError(f"TF_CONFIG is not valid JSON ({e.msg}); see docs/distributed.md.") from None
    cluster = config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def resolve_strategy_name(name: str, tpu: str | None = None) -> str:
    if name not in STRATEGIES:
        raise BertkitError(f"--strategy must be one of {STRATEGIES}, got {name!r}.")
    if name != "auto":
        return name
    if _cluster_workers() > 1:
        return "multi-worker"
    if tpu or os.environ.get("TPU_NAME"):
        return "tpu"
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def get_strategy(name: str = "auto", tpu: str | None = None) -> tf.distribute.Strategy:
    """Returns the strategy for `name` (created once per process: TF allows one collective setup)."""
    name = resolve_strategy_name(name, tpu)
    if name in _CACHE:
        return _CACHE[name]
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi-worker":
        if _cluster_workers() < 1:
            raise BertkitError("--strategy multi-worker needs TF_CONFIG describing the cluster; "
                               "see docs/distributed.md.")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        address = tpu or os.environ.get("TPU_NAME", "")
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as e:
            raise BertkitError(f"cannot reach the TPU {address or '(auto)'}: {e}. Pass --tpu NAME, or use "
                               "--strategy default.") from None
        strategy = tf.distribute.TPUStrategy(resolver)
    _CACHE[name] = strategy
    return strategy


def is_chief() -> bool:
    """True on the worker that writes the run folder (worker 0, or the only process)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    return task.get("type") in (None, "chief") or (task.get("type") == "worker" and task.get("index", 0) == 0
                                                   and "chief" not in json.loads(raw).get("cluster", {}))
