"""Writes `tests/golden/tiny_bert_pt/`: the tiny golden BERT with its weights as a real `pytorch_model.bin`.

`torch.save` of the same state dict that `tests/golden/tiny_bert_hf/model.safetensors` holds (what
`transformers`' `save_pretrained(safe_serialization=False)` writes), so bertkit's torch-free reader is
tested on the file format torch itself produces. Runs in the reference venv, never in bertkit's own:

    /work/refenv/bin/python scripts/make_golden_pytorch_bin.py
"""

from __future__ import annotations

import os
import shutil

import torch
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "tests", "golden", "tiny_bert_hf")
TARGET = os.path.join(ROOT, "tests", "golden", "tiny_bert_pt")


def main() -> None:
    os.makedirs(TARGET, exist_ok=True)
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(SOURCE, name), os.path.join(TARGET, name))
    state = load_file(os.path.join(SOURCE, "model.safetensors"))
    # A BertForX-style checkpoint: the encoder under `bert.`, one non-contiguous (transposed) view
    # to exercise strides, and an nn.Parameter to exercise torch's parameter rebuild.
    state = {f"bert.{k}": v for k, v in state.items()}
    kernel = "bert.encoder.layer.0.attention.self.query.weight"
    state[kernel] = state[kernel].t().contiguous().t()  # same values, column-major strides
    bias = "bert.pooler.dense.bias"
    state[bias] = torch.nn.Parameter(state[bias], requires_grad=False)
    torch.save(state, os.path.join(TARGET, "pytorch_model.bin"))
    print(f"wrote {TARGET} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
