"""Peer: fine-tune with Hugging Face transformers + PyTorch, then report test accuracy (one JSON line).

Run by benchmarks/small_data.py in the peers' virtual environment. The .npz it reads holds bertkit's own
token ids of the training and test texts (so truncation and WordPiece are the same on both sides) and
the batches bertkit's run used, in its order: both systems take the same optimizer steps on the same
examples. What stays Hugging Face's own is the model and the training:

* `AutoModelForSequenceClassification` (BERT's tanh pooler on [CLS], dropout, a 2-way linear head,
  softmax cross-entropy), float32 eager PyTorch, the model's own dropout (0.1);
* `torch.optim.AdamW` (betas 0.9 / 0.999, eps 1e-8, the Trainer's), no weight decay on biases and
  LayerNorm weights, global gradient-norm clipping at 1.0, `get_linear_schedule_with_warmup` with
  ceil(warmup_ratio x steps) warm-up steps: what `Trainer` builds. The Trainer's own defaults are
  warmup_ratio 0 and weight_decay 0; small_data.py passes bertkit's (0.1, 0.01) unless told otherwise.

Options for the gap investigation: `--head sigmoid` (one logit and binary cross-entropy, as bertkit's
binary head) and `--pooling mean` (masked mean of the last hidden states into a fresh linear head,
as bertkit's default for this sentence-transformers model; no pooler).

    python hf_finetune.py --model DIR --data runs.npz [--lr 1e-4] [--epochs 1] [--warmup-ratio 0.1]
        [--weight-decay 0.01] [--head softmax|sigmoid] [--pooling cls|mean] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup


def padded(ids: np.ndarray, lengths: np.ndarray, idx: np.ndarray):
    """`(input_ids, attention_mask)` of rows `idx`, padded to their longest row (any padding gives the same
    numbers under the attention mask; this is the least work)."""
    t = int(lengths[idx].max())
    x = torch.from_numpy(ids[idx, :t].astype(np.int64))
    mask = (torch.arange(t)[None, :] < torch.from_numpy(lengths[idx])[:, None]).long()
    return x, mask


class MeanPoolHead(torch.nn.Module):
    """Masked mean of the last hidden states -> dropout -> linear (bertkit's `pooling="mean"` head)."""

    def __init__(self, model, units: int):
        super().__init__()
        self.bert = model.bert
        self.dropout = torch.nn.Dropout(model.config.hidden_dropout_prob)
        self.classifier = torch.nn.Linear(model.config.hidden_size, units)
        model._init_weights(self.classifier)  # normal(0, initializer_range), zero bias, as the pooler head's

    def forward(self, input_ids, attention_mask):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [B, T, H]
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)  # [B, H]
        return self.classifier(self.dropout(pooled))  # [B, units]


class PoolerHead(torch.nn.Module):
    """`AutoModelForSequenceClassification` as `(input_ids, attention_mask) -> logits [B, units]`."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, input_ids, attention_mask):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits


def build(model_dir: str, head: str, pooling: str) -> torch.nn.Module:
    units = 1 if head == "sigmoid" else 2
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=units)
    return MeanPoolHead(model, units) if pooling == "mean" else PoolerHead(model)


def loss_fn(logits, y, head: str):
    if head == "sigmoid":
        return torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    return torch.nn.functional.cross_entropy(logits, y)


def optimizer(model, lr: float, weight_decay: float):
    """AdamW with the Trainer's grouping: no decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.999), eps=1e-8)


def train(model, data, args) -> dict:
    order, bounds = data["order"], data["batch_bounds"]  # bertkit's batches, flattened, and their ends
    batches = np.split(order, bounds[:-1])
    steps = len(batches) * args.epochs
    opt = optimizer(model, args.lr, args.weight_decay)
    schedule = get_linear_schedule_with_warmup(opt, math.ceil(args.warmup_ratio * steps), steps)
    model.train()
    losses, start = [], time.perf_counter()
    for epoch in range(args.epochs):
        # Epoch 1 is bertkit's order; later epochs reshuffle whole batches (seeded).
        shuffle = np.random.default_rng([args.seed, epoch]).permutation(len(batches))
        chosen = batches if epoch == 0 else [batches[i] for i in shuffle]
        for idx in chosen:
            x, mask = padded(data["train_ids"], data["train_lengths"], idx)
            y = torch.from_numpy(data["train_labels"][idx].astype(np.int64))
            loss = loss_fn(model(x, mask), y, args.head)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            schedule.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss))
    return {"train_seconds": time.perf_counter() - start, "steps": steps, "train_loss": float(np.mean(losses))}


@torch.inference_mode()
def predict(model, ids, lengths, head: str, batch_size: int = 64) -> np.ndarray:
    model.eval()
    order = np.argsort(lengths, kind="stable")  # least padding
    out = np.zeros(len(ids), np.int64)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        logits = model(*padded(ids, lengths, idx))
        out[idx] = (logits[:, 0] > 0).long().numpy() if head == "sigmoid" else logits.argmax(-1).numpy()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--head", choices=["softmax", "sigmoid"], default="softmax")
    p.add_argument("--pooling", choices=["cls", "mean"], default="cls")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    torch.manual_seed(args.seed)  # head initialisation and dropout
    data = dict(np.load(args.data))
    model = build(args.model, args.head, args.pooling)
    stats = train(model, data, args)
    start = time.perf_counter()
    predicted = predict(model, data["test_ids"], data["test_lengths"], args.head)
    test_seconds = time.perf_counter() - start
    print(json.dumps({"peer": "hf_finetune", "accuracy": float(np.mean(predicted == data["test_labels"])),
                      "test_seconds": test_seconds, **stats, "threads": torch.get_num_threads(),
                      "settings": vars(args),
                      "versions": {"torch": torch.__version__,
                                   "transformers": __import__("transformers").__version__}}))


if __name__ == "__main__":
    main()
