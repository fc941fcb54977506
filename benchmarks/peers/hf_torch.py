"""Peer: Hugging Face transformers + PyTorch on the same model and the same token ids as bertkit.

Run by benchmarks/speed.py in the peers' own virtual environment (torch, transformers), never in
bertkit's. Reads the batches from an .npz written by speed.py and prints one JSON line.

    python hf_torch.py --model DIR --data batches.npz --mode train|infer [--bf16] [--compile]
        [--padding fixed|dynamic] [--batch-size 32] [--steps 12] [--warmup 2]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification


def batches(data, batch_size: int, padding: str, rng: np.random.Generator):
    """Random batches (a DataLoader with shuffle=True); "dynamic" pads each to its longest row, as
    transformers' DataCollatorWithPadding does, "fixed" to the width of `ids` (max_seq_length)."""
    ids, lengths, labels = data["ids"], data["lengths"], data["labels"]
    while True:
        order = rng.permutation(len(ids))
        for start in range(0, len(ids) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            t = int(lengths[idx].max()) if padding == "dynamic" else ids.shape[1]
            x = torch.from_numpy(ids[idx, :t].astype(np.int64))
            mask = (torch.arange(t)[None, :] < torch.from_numpy(lengths[idx])[:, None]).long()
            yield x, mask, torch.from_numpy(labels[idx].astype(np.int64)), int(lengths[idx].sum()), t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--bf16", action="store_true", help="torch.autocast(cpu, bfloat16)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--padding", choices=["fixed", "dynamic"], default="fixed")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()

    torch.manual_seed(0)
    data = dict(np.load(args.data))
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2)
    if args.compile:
        model = torch.compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    model.train(args.mode == "train")
    stream = batches(data, args.batch_size, args.padding, np.random.default_rng(0))

    def step(x, mask, y):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            if args.mode == "infer":
                with torch.inference_mode():
                    return model(input_ids=x, attention_mask=mask).logits
            out = model(input_ids=x, attention_mask=mask, labels=y)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss

    for _ in range(args.warmup):
        x, mask, y, _, _ = next(stream)
        step(x, mask, y)
    seconds, examples, tokens, slots = 0.0, 0, 0, 0
    for _ in range(args.steps):
        x, mask, y, real, t = next(stream)
        start = time.perf_counter()
        step(x, mask, y)
        seconds += time.perf_counter() - start
        examples, tokens, slots = examples + len(y), tokens + real, slots + len(y) * t
    print(json.dumps({"peer": "hf_torch", "mode": args.mode, "bf16": args.bf16, "compile": args.compile,
                      "padding": args.padding, "batch_size": args.batch_size, "steps": args.steps,
                      "seconds": seconds, "examples": examples, "tokens": tokens, "slots": slots,
                      "examples_per_second": examples / seconds, "threads": torch.get_num_threads(),
                      "versions": {"torch": torch.__version__,
                                   "transformers": __import__("transformers").__version__}}))


if __name__ == "__main__":
    main()
