"""`tf.function` as bertkit traces its own graphs: without AutoGraph.

bertkit writes its graph control flow as TensorFlow ops (`tf.cond`, `tf.while_loop`, `tf.map_fn`), so
AutoGraph, which re-parses and rewrites the Python source of every function a trace calls, converts
nothing and only costs time: on a 2-core AMD Zen 3 it was 3.0 of the 4.9 s it took to trace the
all-MiniLM-L6-v2 `tokenizer.json` graph, and an SST-2 few-shot run took 52 s instead of 60 s without it
(docs/speed.md). Without AutoGraph a Python `if` or `for` on a tensor fails at trace time, loudly, instead
of becoming a graph op. Code that calls bertkit inside the user's own (AutoGraph) `tf.function` or
`tf.data` map still works: AutoGraph leaves graph ops as they are.
"""

from __future__ import annotations

import tensorflow as tf


def function(fn=None, **kwargs):
    """`tf.function(fn, autograph=False, **kwargs)`; also usable as a decorator."""
    return tf.function(fn, autograph=False, **kwargs)
