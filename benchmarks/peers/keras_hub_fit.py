"""Peer: KerasHub's `BertTextClassifier.fit` (Keras 3, TensorFlow backend) at the same architecture.

Run by benchmarks/speed.py in the peers' virtual environment. The backbone has the MiniLM-L6-H384
shape with random weights (KerasHub reads Hugging Face folders only through its hub handles, and speed
does not depend on the values). Same token ids as bertkit, fixed padding. Prints one JSON line.

    python keras_hub_fit.py --data batches.npz [--batch-size 32] [--steps 12] [--warmup 2] [--jit]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402


class StepTimer(keras.callbacks.Callback):
    def __init__(self, warmup: int):
        super().__init__()
        self.warmup, self.times, self.start = warmup, [], 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch >= self.warmup:
            self.times.append(time.perf_counter() - self.start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--jit", action="store_true", help="compile with XLA (jit_compile=True)")
    args = p.parse_args()

    keras.utils.set_random_seed(0)
    data = dict(np.load(args.data))
    n = args.batch_size * (args.steps + args.warmup)
    ids, lengths, labels = data["ids"][:n], data["lengths"][:n], data["labels"][:n]
    t = ids.shape[1]
    x = {"token_ids": ids.astype("int32"), "segment_ids": np.zeros_like(ids, "int32"),
         "padding_mask": np.arange(t)[None, :] < lengths[:, None]}
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30522, num_layers=6, num_heads=12, hidden_dim=384,
                                             intermediate_dim=1536, max_sequence_length=512)
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    model.compile(optimizer=keras.optimizers.AdamW(2e-5, weight_decay=0.01, global_clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=args.jit)
    timer = StepTimer(args.warmup)
    model.fit(x, labels.astype("int32"), batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0,
              callbacks=[timer])
    seconds = float(sum(timer.times))
    examples = args.batch_size * len(timer.times)
    print(json.dumps({"peer": "keras_hub_fit", "mode": "train", "jit": args.jit, "padding": "fixed",
                      "batch_size": args.batch_size, "steps": len(timer.times), "seconds": seconds,
                      "examples": examples, "tokens": int(lengths[args.batch_size * args.warmup:].sum()),
                      "slots": examples * t, "examples_per_second": examples / seconds,
                      "versions": {"keras": keras.__version__, "keras_hub": keras_hub.__version__}}))


if __name__ == "__main__":
    main()
