"""Where a LiteRT export's token ids differ from `bertkit predict`'s, on real text (issue 20).

A .tflite runs each tokenizer kind's `litert_tokenizer()` (the WordPiece fast path alone: its exact path
needs regex and ICU ops without LiteRT kernels); `predict` runs `encode` (fast path, and the exact path for
texts whose fast ids hold [UNK]). Both are the same tensorflow-text kernels, so comparing the two tokenizers
in TensorFlow is comparing the .tflite with predict. For every test text of the datasets this counts the texts
whose ids differ and names the characters that cause it (a character of a differing word whose own ids
differ, or that the fast path makes [UNK]).

    python scripts/litert_id_diff.py --datasets imdb_full sst2 imdb_full_train sst2_train \
        --output benchmarks/results/litert_id_diff.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import unicodedata
from pathlib import Path

DATA = Path(os.environ.get("BERTKIT_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
DATASETS = {"imdb_full": "imdb_full/test.jsonl", "sst2": "sst2/test.jsonl",
            "imdb_full_train": "imdb_full/train.jsonl", "sst2_train": "sst2/train.jsonl"}
BATCH = 256


def tokenizers(kind: str):
    """(exact, litert) tokenizers of the default model's vocabulary: `wordpiece` (Google's rules) or the
    model folder's own kind (tokenizer.json / hf_wordpiece)."""
    from bertkit.tokenization.loading import load_tokenizer
    from bertkit.tokenization.wordpiece import WordPiece
    from bertkit.weights import default_model_path

    folder = Path(default_model_path())
    exact = WordPiece(folder / "vocab.txt", True) if kind == "wordpiece" else load_tokenizer(folder)
    return exact, exact.litert_tokenizer()


def ids(tokenizer, texts: list[str]) -> list[list[int]]:
    out = []
    for start in range(0, len(texts), BATCH):
        out += tokenizer(texts[start:start + BATCH]).to_list()
    return out


def causes(exact, fast, text: str) -> list[str]:
    """The characters of `text`'s differing words that differ alone or are [UNK] in the fast path."""
    words = [w for w in text.split() if ids(exact, [w]) != ids(fast, [w])]
    found = []
    for ch in sorted({c for w in words for c in w}):
        alone_exact, alone_fast = ids(exact, [ch])[0], ids(fast, [ch])[0]
        if alone_exact != alone_fast or fast.unk_id in alone_fast:
            found.append(ch)
    return found or [f"(context) {w[:40]}" for w in words[:3]]


def measure(kind: str, names: list[str]) -> dict:
    exact, fast = tokenizers(kind)
    result = {"tokenizer": exact.kind}
    for name in names:
        rows = [json.loads(line) for line in (DATA / DATASETS[name]).open(encoding="utf-8")]
        texts = [r["text"] for r in rows]
        a, b = ids(exact, texts), ids(fast, texts)
        differing = [i for i in range(len(texts)) if a[i] != b[i]]
        chars = collections.Counter(c for i in differing for c in causes(exact, fast, texts[i]))
        result[name] = {
            "texts": len(texts), "differing_texts": len(differing),
            "with_unk_in_fast_path": sum(fast.unk_id in row for row in b),
            "causing_characters": [{"char": c, "code_point": f"U+{ord(c):04X}" if len(c) == 1 else "",
                                    "name": unicodedata.name(c, "?") if len(c) == 1 else c, "texts": n}
                                   for c, n in chars.most_common()],
            "examples": [texts[i][:200] for i in differing[:5]],
        }
        print(f"{kind} {name}: {len(differing)} of {len(texts)} texts differ; characters: "
              f"{' '.join(f'{c!r}x{n}' for c, n in chars.most_common(20))}", file=sys.stderr)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["imdb_full", "sst2"], choices=list(DATASETS))
    parser.add_argument("--kinds", nargs="+", default=["model", "wordpiece"],
                        help="model: the default model folder's tokenizer kind; wordpiece: Google's WordPiece")
    parser.add_argument("--output", default="benchmarks/results/litert_id_diff.json")
    args = parser.parse_args(argv)
    from bertkit.core.io import atomic_write_text

    results = {kind: measure(kind, args.datasets) for kind in args.kinds}
    atomic_write_text(args.output, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
