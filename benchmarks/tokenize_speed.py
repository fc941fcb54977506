"""Tokenizer throughput of every kind, in tf.data, next to its reference implementation in the same run.

Texts: the 15,000 IMDB reviews of imdb/ (English, 19.7 MB) and the UDHR in 26 languages
(tests/data/multilingual, repeated 5 times: 2.2 MB). MB/s of UTF-8 input, best and median of the timed
passes (the machine is shared; the best pass is the cleanest measurement).

* bertkit: `Dataset.batch(256).map(tokenizer, num_parallel_calls=AUTOTUNE)`, ragged ids; for Google
  WordPiece also `tokenize+pack` (`pack_inputs` to [B, 128]) and the stock `FastBertTokenizer` (not exact).
* reference: Hugging Face `tokenizers` `encode_batch` on all texts (its Rayon threads: RAYON_NUM_THREADS,
  default the machine's cores), `sentencepiece` `encode(list)` (its threads), Google's `FullTokenizer`
  (plain Python, one thread).

The kinds' folders come from tests/tokenizer_kinds.py (the small SentencePiece and byte-level BPE models
are trained there, on the UDHR text). Needs the test extra (tokenizers, sentencepiece, bert-tensorflow).

    python benchmarks/tokenize_speed.py [--data DIR] [--kinds a,b] [--repeats 3]

Writes benchmarks/results/tokenize_speed.json (`--output NAME`: NAME.json), with `lscpu`'s CPU model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import versions, write_result  # noqa: E402

KINDS = ("wordpiece", "hf_wordpiece", "json_wordpiece", "json_unigram", "e5_unigram", "json_bpe", "hf_bpe",
         "spm_unigram", "spm_bpe")
REFERENCE = {"wordpiece": "Google FullTokenizer (Python)", "spm_unigram": "sentencepiece", "spm_bpe": "sentencepiece"}


def lscpu() -> dict:
    """The CPU as `lscpu` names it (model name, family / model, CPUs, threads per core)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    keep = ("Model name", "CPU family", "Model", "CPU(s)", "Thread(s) per core", "Hypervisor vendor")
    rows = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {k: rows[k].strip() for k in keep if k in rows}


def read_texts(data_dir: Path) -> dict[str, list[str]]:
    from tests import tokenizer_kinds as tk

    imdb = []
    for split in ("train", "test"):
        with open(data_dir / "imdb" / f"{split}.jsonl", encoding="utf-8") as f:
            imdb += [json.loads(line)["text"] for line in f]
    return {"imdb": imdb, "udhr": tk.multilingual_lines() * 5}


def time_passes(run, repeats: int) -> list[float]:
    run()  # trace and warm up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return seconds


def ours(tokenizer, texts, batch: int, pack: int | None = None):
    import tensorflow as tf

    from bertkit.tokenization.packing import pack_inputs

    def encode(x):
        ids = tokenizer(x)
        return ids if pack is None else pack_inputs(ids, None, pack, template=tokenizer.template)

    ds = tf.data.Dataset.from_tensor_slices(texts).batch(batch).map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    return lambda: [None for _ in ds]


def row(megabytes: float, seconds: list[float]) -> dict:
    return {"mb_per_s_best": round(megabytes / min(seconds), 2),
            "mb_per_s_median": round(megabytes / statistics.median(seconds), 2),
            "seconds": [round(s, 2) for s in seconds]}


def measure_kind(kind: str, folder: Path, corpora: dict, args) -> dict:
    from bertkit.tokenization.loading import load_tokenizer
    from tests import tokenizer_kinds as tk

    tokenizer, reference = load_tokenizer(folder), tk.reference(kind, folder)
    out = {"reference": REFERENCE.get(kind, "Hugging Face tokenizers (encode_batch)")}
    for name, texts in corpora.items():
        megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        result = {"megabytes": round(megabytes, 2),
                  "bertkit": row(megabytes, time_passes(ours(tokenizer, texts, args.batch), args.repeats))}
        if kind == "wordpiece":
            packed = ours(tokenizer, texts, args.batch, 128)
            result["bertkit_tokenize_pack"] = row(megabytes, time_passes(packed, args.repeats))
        reference_passes = 1 if kind == "wordpiece" else args.repeats  # Google's Python takes minutes
        result["reference"] = row(megabytes, time_passes(lambda: reference(texts), reference_passes))
        result["ratio_best"] = round(result["bertkit"]["mb_per_s_best"] / result["reference"]["mb_per_s_best"], 2)
        out[name] = result
        print(f"{kind:15s} {name:5s} bertkit {result['bertkit']['mb_per_s_best']:6.2f} MB/s  reference "
              f"{result['reference']['mb_per_s_best']:6.2f} MB/s  ratio {result['ratio_best']:5.2f}", flush=True)
    return out


def stock_fast_bert(folder: Path, corpora: dict, args) -> dict:
    """tensorflow-text's own FastBertTokenizer on the same vocabulary: the speed bertkit's WordPiece is held to."""
    import tensorflow as tf
    import tensorflow_text as text

    from bertkit.tokenization.wordpiece import load_vocab

    stock = text.FastBertTokenizer(vocab=load_vocab(folder / "vocab.txt"), token_out_type=tf.int32,
                                   lower_case_nfd_strip_accents=True)
    out = {}
    for name, texts in corpora.items():
        megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        out[name] = row(megabytes, time_passes(ours(stock.tokenize, texts, args.batch), args.repeats))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("BERTKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--data", default=default_data, help="folder holding imdb/{train,test}.jsonl")
    p.add_argument("--kinds", default=None, help=f"comma-separated subset of {','.join(KINDS)}")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--output", default="tokenize_speed", help="result name: benchmarks/results/NAME.json")
    args = p.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(os.cpu_count()))

    from tests import tokenizer_kinds as tk

    corpora = read_texts(Path(args.data))
    results = {}
    with tempfile.TemporaryDirectory() as root:
        folders = tk.build(Path(root))
        for kind in (args.kinds.split(",") if args.kinds else KINDS):
            if kind in folders:
                results[kind] = measure_kind(kind, folders[kind], corpora, args)
        if "wordpiece" in folders:
            results["stock_fast_bert_tokenizer"] = stock_fast_bert(folders["wordpiece"], corpora, args)
    write_result(args.output, {
        "versions": versions(), "lscpu": lscpu(),
        "setup": {"texts": {k: len(v) for k, v in corpora.items()}, "batch": args.batch, "repeats": args.repeats,
                  "map": "num_parallel_calls=AUTOTUNE", "rayon_threads": os.environ["RAYON_NUM_THREADS"],
                  "load_average_at_start": os.getloadavg()},
        "results": results,
    })


if __name__ == "__main__":
    main()
