"""Writes the all-mpnet-base-v2 encoder golden from the PyTorch reference (`transformers.MPNetModel`).

Runs in a separate reference venv, never in bertkit's own (see scripts/make_golden_families.py):

    /work/refenv/bin/python scripts/make_golden_mpnet.py --model-dir /path/to/all-mpnet-base-v2

`--model-dir` is the sentence-transformers folder of all-mpnet-base-v2 (config.json,
model.safetensors, tokenizer.json, vocab.txt, 1_Pooling/...). Nothing is downloaded: the folder's
own tokenizer (`AutoTokenizer` on the local folder) and weights are used.

Writes `tests/golden/mpnet_base_encoder.json`: the texts, their ids and mask (`input_word_ids`,
`input_mask`, and all-zero `input_type_ids`, since MPNet has no token types) for 6 rows of real text
from shared/data (SST-2 and IMDB test; one SST-2 row is a sentence pair, `<s> a </s></s> b </s>`;
at most 64 tokens, padded to the longest), the tokens, and from `MPNetModel` (eval, eager):
`sequence_output_first8` (last_hidden_state at the first 8 positions, all 768 features, 5 decimals),
per-position sums [B, T] and per-feature sums over unpadded positions [B, H] of last_hidden_state,
and `sentence_embedding`, the sentence-transformers masked mean of last_hidden_state over unpadded
positions (1_Pooling: mean tokens; modules.json then L2-normalises it, left to the test).
Not stored, to keep the file near 400 KB: the pooler output (MPNetModel's tanh pooler is an
untrained random init in this checkpoint; tests/golden/families/mpnet covers its mapping).
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only: never reach for a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer, MPNetModel  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")
DEFAULT_MODEL = "/work/runs/mpnet/all-mpnet-base-v2"
DATA = os.environ.get("BERTKIT_DATA", "/work/shared/data")
SST2 = os.path.join(DATA, "sst2", "test.jsonl")
IMDB = os.path.join(DATA, "imdb", "test.jsonl")
MAX_LEN = 64
FIRST_POSITIONS = 8


def texts(path: str, n: int) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(next(f))["text"] for _ in range(n)]


def rounded(t: torch.Tensor, digits: int):
    """Nested lists of floats rounded to `digits` decimals (keeps the JSON small)."""
    if t.dim() == 0:
        return round(float(t), digits)
    return [rounded(x, digits) for x in t]


def encode(tokenizer, items: list[tuple[str, str | None]], max_len: int) -> dict[str, torch.Tensor]:
    """Tokenizes `(text_a, text_b or None)` pairs, truncates to `max_len`, pads to the longest (right)."""
    rows = [tokenizer(a, b, truncation=True, max_length=max_len, return_attention_mask=True) for a, b in items]
    return tokenizer.pad(rows, padding="longest", return_tensors="pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=DEFAULT_MODEL, help="the all-mpnet-base-v2 folder")
    args = parser.parse_args()
    torch.set_num_threads(1)

    imdb, sst2 = texts(IMDB, 3), texts(SST2, 6)
    items = [
        (imdb[0], None),  # long review: truncated to MAX_LEN tokens
        (imdb[2], None),
        (sst2[0], None),  # short: mostly padding, so the mask matters
        (sst2[1], None),
        (sst2[2], sst2[3]),  # a pair: <s> a </s></s> b </s>
        (sst2[5], None),
    ]
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    assert tokenizer.padding_side == "right"
    batch = encode(tokenizer, items, MAX_LEN)
    model = MPNetModel.from_pretrained(args.model_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    seq = out.last_hidden_state  # [B, T, H]
    mask = batch["attention_mask"][..., None].float()  # [B, T, 1]
    # sentence_transformers.models.Pooling (mean tokens): sum over unpadded positions / their count
    embedding = (seq * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # [B, H]

    with open(os.path.join(args.model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    golden = {
        "about": "all-mpnet-base-v2 through transformers.MPNetModel (eval, eager attention), tokenized with "
        "the folder's own tokenizer; written by scripts/make_golden_mpnet.py",
        "reference": f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"tokenizer {type(tokenizer).__name__}",
        "config": config,
        "texts": [[a, b] for a, b in items],
        "tokens": [
            tokenizer.convert_ids_to_tokens(ids[: int(n)])
            for ids, n in zip(batch["input_ids"].tolist(), batch["attention_mask"].sum(1))
        ],
        "input_word_ids": batch["input_ids"].tolist(),
        "input_mask": batch["attention_mask"].tolist(),
        "input_type_ids": torch.zeros_like(batch["input_ids"]).tolist(),  # MPNet has no token types
        "sequence_output_first8": rounded(seq[:, :FIRST_POSITIONS], 5),  # [B, 8, H]
        "sequence_position_sums": rounded(seq.sum(-1), 4),  # [B, T] (padded positions: ignore)
        "sequence_feature_sums": rounded((seq * mask).sum(1), 4),  # [B, H] over unpadded positions
        "sentence_embedding": rounded(embedding, 6),  # [B, H] masked mean (sentence-transformers)
    }
    path = os.path.join(GOLDEN, "mpnet_base_encoder.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
