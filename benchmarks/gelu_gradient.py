"""The exact GELU's written-out gradient (`bertkit.encoder._gelu`) against Keras' autodiff one, A/B.

Two copies of the speed benchmark's model (`BertkitBench`, all-MiniLM-L6-v2, float32) in one
process, one with each GELU, take training steps on the same `[batch, length]` batch in alternating
order (ABBA...), so drift of this shared machine hits both alike. Reports median and mean step time.

    python benchmarks/gelu_gradient.py [--length 128] [--rounds 12]

Writes benchmarks/results/gelu_gradient.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)

    import keras
    from speed import BertkitBench, random_batch

    import bertkit.modeling.encoder as encoder

    written_out = encoder._gelu
    benches = {}
    encoder._gelu = lambda x: keras.ops.gelu(x, approximate=False)  # what bertkit used before
    benches["autodiff"] = BertkitBench("float32")
    encoder._gelu = written_out
    benches["written_out"] = BertkitBench("float32")
    b, t = args.batch, args.length
    feats, labels = random_batch(b, t)
    for bench in benches.values():
        for _ in range(2):
            float(bench.fns.step(feats, labels, b))
    times = {name: [] for name in benches}
    for r in range(args.rounds):
        for name, bench in (list(benches.items()) if r % 2 == 0 else list(benches.items())[::-1]):
            start = time.perf_counter()
            float(bench.fns.step(feats, labels, b))
            times[name].append(time.perf_counter() - start)
    stats = {name: {"median_seconds": round(float(np.median(v)), 3), "mean_seconds": round(float(np.mean(v)), 3),
                    "steps": [round(x, 3) for x in v]} for name, v in times.items()}
    result = {"setup": {"batch": b, "length": t, "rounds": args.rounds, "precision": "float32",
                        "model": "all-MiniLM-L6-v2 + mean-pooled sigmoid head (speed.BertkitBench)"},
              "runs": stats,
              "speedup_median": round(stats["autodiff"]["median_seconds"] / stats["written_out"]["median_seconds"], 3),
              "versions": versions()}
    print({k: v["median_seconds"] for k, v in stats.items()}, "speedup", result["speedup_median"])
    write_result("gelu_gradient", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
