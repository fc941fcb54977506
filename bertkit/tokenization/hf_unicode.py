"""The per-character tables of Hugging Face `tokenizers`' Rust components (data/hf_unicode.json).

They were read off the reference itself by `scripts/make_hf_unicode_tables.py` (which names the
tokenizers version in the file's "source"), so bertkit's graph ops classify and map every code point
as the Rust crates do, whatever Unicode version Python, ICU or RE2 know. See that script for what each
table holds.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "hf_unicode.json"
SIZE = 0x110000
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3  # precomposed syllables: decomposition by arithmetic

# Unicode's White_Space property (Rust's `char::is_whitespace`), as an RE2 class body.
WHITE_SPACE_RE2 = ("\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
                   "\\x{205F}\\x{3000}")

# Class values of the tables (see the script).
BERT_DELETED, BERT_SPACE = 1, 2  # bert_clean
SPLIT_SPACE, SPLIT_PUNCT = 1, 2  # bert_split
LETTER, NUMBER, OTHER, SPACE, WHITESPACE = 0, 1, 2, 3, 4  # byte_level; whitespace uses 0, 2, 4
GRAPHEME_CR, GRAPHEME_LF, GRAPHEME_CONTROL, GRAPHEME_JOINS, GRAPHEME_PREPEND = 1, 2, 3, 4, 5
GRAPHEME_L, GRAPHEME_V, GRAPHEME_T, GRAPHEME_LV, GRAPHEME_LVT = 6, 7, 8, 9, 10


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def source() -> dict:
    """Which tokenizers (and regex) version the tables were read from."""
    return dict(_data()["source"])


@functools.lru_cache(maxsize=None)
def classes(name: str) -> np.ndarray:
    """int8 `[0x110000]`: the class of every code point in table `name` (0 where the table says nothing)."""
    out = np.zeros(SIZE, np.int8)
    for first, last, value in _data()[name]:
        out[first:last + 1] = value
    return out


def runs(name: str) -> list[list[int]]:
    """The `[first, last, value]` runs of range table `name`."""
    return _data()[name]


@functools.lru_cache(maxsize=None)
def mapping(name: str) -> dict[int, tuple[int, ...]]:
    """{code point: code points it becomes} for the characters table `name` changes."""
    out = {int(cp): tuple(value) for cp, value in _data()[name].items()}
    if name == "nfd_strip":
        out.update((cp, tuple(hangul_nfd(cp))) for cp in range(HANGUL_FIRST, HANGUL_LAST + 1))
    return out


def hangul_nfd(cp: int) -> list[int]:
    """The canonical decomposition of a precomposed Hangul syllable (Unicode chapter 3.12)."""
    index = cp - HANGUL_FIRST
    lead, vowel, trail = 0x1100 + index // 588, 0x1161 + (index % 588) // 28, index % 28
    return [lead, vowel] + ([0x11A7 + trail] if trail else [])
