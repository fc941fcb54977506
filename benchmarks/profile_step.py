"""Where a bertkit training step spends its time: TensorFlow profiler, op by op, grouped.

Builds the speed benchmark's model (all-MiniLM-L6-v2 + mean-pooled sigmoid head, `BertkitBench`),
warms the step up on a `[batch, length]` batch of random token ids, profiles `--steps` steps and
sums the ops' self time into groups: matmuls, GELU (forward and its autodiff gradient), dropout
(mostly the random numbers), LayerNorm, softmax, the optimizer update, the rest, and idle. Self
times of ops running side by side on the 2 cores add up, so the groups are shares of busy time,
not of wall time.

    python benchmarks/profile_step.py [--length 128] [--batch 32] [--steps 2] [--policy mixed_bfloat16]

Writes benchmarks/results/profile_step.json, or profile_step-mixed_bfloat16.json (groups, the 15
costliest op types, step wall time).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402

GROUPS = (  # first match wins
    ("idle", lambda name, kind: kind == "IDLE"),
    ("gelu", lambda name, kind: "gelu" in name.lower()),  # Keras' Gelu/..., bertkit's gelu/, gelu_grad/
    ("dropout", lambda name, kind: "dropout" in name),
    ("optimizer", lambda name, kind: name.startswith("adam") or "clip" in name.lower() or "global_norm" in name),
    ("matmul", lambda name, kind: kind.removeprefix("_Mkl") in ("MatMul", "BatchMatMulV2", "FusedMatMul")),
    ("layernorm", lambda name, kind: "layer_norm" in name.lower() or "moments" in name),
    ("softmax", lambda name, kind: "oftmax" in name or "oftmax" in kind),
)


def op_rows(xplane: str) -> list[dict]:
    """The profiler's framework op statistics (one row per op) of an `.xplane.pb`."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    data, ok = plugin.xspace_to_tools_data([xplane], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"could not read the profile {xplane}")
    tables = json.loads(data)
    table = max(tables, key=lambda t: len(t.get("rows", [])))
    cols = [c["id"] for c in table["cols"]]
    return [dict(zip(cols, (cell.get("v") if cell else None for cell in row["c"]))) for row in table["rows"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--policy", default="float32", choices=["float32", "mixed_bfloat16"])
    args = parser.parse_args(argv)

    import tensorflow as tf
    from speed import BertkitBench, random_batch

    bench = BertkitBench(args.policy)
    b, t = args.batch, args.length
    feats, labels = random_batch(b, t)
    for _ in range(3):
        float(bench.fns.step(feats, labels, b))
    with tempfile.TemporaryDirectory(prefix="bertkit-profile-") as logdir:
        start = time.perf_counter()
        tf.profiler.experimental.start(logdir)
        for _ in range(args.steps):
            float(bench.fns.step(feats, labels, b))
        tf.profiler.experimental.stop()
        wall = (time.perf_counter() - start) / args.steps
        rows = op_rows(sorted(glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"))[-1])

    groups, kinds = {name: 0.0 for name, _ in GROUPS}, {}
    groups["other"] = 0.0
    for row in rows:
        name, kind, self_us = row["operation"], row["type"], float(row["total_self_time"])
        group = next((g for g, match in GROUPS if match(name, kind)), "other")
        groups[group] += self_us
        if kind != "IDLE":
            kinds[kind] = kinds.get(kind, 0.0) + self_us
    busy = sum(v for k, v in groups.items() if k != "idle")
    result = {
        "setup": {"model": "all-MiniLM-L6-v2 + mean-pooled sigmoid head (speed.BertkitBench)", "batch": b,
                  "length": t, "profiled_steps": args.steps, "precision": args.policy},
        "step_wall_seconds_while_profiling": round(wall, 3),
        "busy_ms_per_step": round(busy / 1e3 / args.steps, 1),
        "groups_share_of_busy": {k: round(v / busy, 4) for k, v in groups.items() if k != "idle"},
        "idle_ms_per_step": round(groups["idle"] / 1e3 / args.steps, 1),
        "top_op_types_ms_per_step": {k: round(v / 1e3 / args.steps, 1)
                                     for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:15]},
        "versions": versions(),
    }
    print(json.dumps(result, indent=2))
    write_result("profile_step" if args.policy == "float32" else f"profile_step-{args.policy}", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
