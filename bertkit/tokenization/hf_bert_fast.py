"""The fast path of a BERT `tokenizer.json` (BertNormalizer + BertPreTokenizer + WordPiece): the two
tensorflow-text kernels bertkit's Google WordPiece runs on, with Hugging Face's character rules.

A `FastBertNormalizer` applies BertNormalizer character by character (the reference's own tables,
`hf_normalizers.bert_mapping`), then `FastWordpieceTokenizer` splits words on whitespace and punctuation
and finds the pieces. That equals the reference wherever the kernel's character classes (ICU, which
agrees with Python's `unicodedata` on every assigned character: tests/test_tokenization.py) agree with
the reference's; every character where they do not, or where the per-character table cannot be exact,
becomes a fallback character no vocabulary token holds, so its word is [UNK]:

* characters whose normalized form the kernel would split differently (ICU vs the reference's classes,
  CJK blocks the two draw differently: U+2B820-2B91F);
* the 25 spacing marks with a non-zero combining class (NFD may reorder them with their neighbours);
* unassigned characters a vocabulary token holds (ICU may know them as punctuation).

Private-use characters above U+FFFF, which BertNormalizer deletes, are left out of the table (131,000
entries) and give [UNK] themselves. The caller redoes exactly every text whose fast ids hold [UNK], a word
over the length limit (the kernel counts bytes) or an added token.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
import tensorflow as tf
import tensorflow_text as text

from bertkit.tokenization import hf_unicode as hu, normalizer_model, unicode_rules
from bertkit.tokenization.base import eager_constant
from bertkit.tokenization.hf_normalizers import HF_CJK_RANGES, bert_mapping
from bertkit.tokenization.unicode_rules import CJK_RANGES

NONCHARACTERS = [*range(0xFDD0, 0xFDF0), *(p * 0x10000 + low for p in range(17) for low in (0xFFFE, 0xFFFF))]
GOOGLE_ONLY_CJK = (0x2B820, 0x2B91F)  # FastWordpieceTokenizer isolates these; BertNormalizer does not


def matches(spec: dict) -> bool:
    """Whether a tokenizer.json is the BERT pipeline the fast path knows."""
    normalizer, pre, model = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}, spec.get("model") or {}
    return (normalizer.get("type") == "BertNormalizer" and pre.get("type") == "BertPreTokenizer"
            and model.get("type", "WordPiece") == "WordPiece" and "vocab" in model)


@functools.lru_cache(maxsize=1)
def _kernel_classes() -> np.ndarray:
    """int8 per code point: how FastWordpieceTokenizer classifies it (0 word, 1 whitespace, 2 split off):
    as Python's `unicodedata` says (ICU agrees on every assigned character), and its CJK blocks."""
    code_points, categories, chars = unicode_rules.all_chars()
    isspace = np.zeros(len(chars), bool)
    isspace[:0x3001] = [ch.isspace() for ch in chars[:0x3001]]  # none above U+3000
    ascii_punct = (((code_points >= 33) & (code_points <= 47)) | ((code_points >= 58) & (code_points <= 64))
                   | ((code_points >= 91) & (code_points <= 96)) | ((code_points >= 123) & (code_points <= 126)))
    split = ascii_punct | np.char.startswith(categories, "P")
    for first, last in CJK_RANGES:
        split |= (code_points >= first) & (code_points <= last)
    out = np.zeros(hu.SIZE, np.int8)
    out[code_points] = np.where(isspace | (categories == "Zs"), 1, np.where(split, 2, 0))
    return out


def fast_table(node: dict, fallback: str, vocab_chars: set[str]) -> dict[str, str]:
    """char -> replacement for the FastBertNormalizer (see the module docstring)."""
    mapping = bert_mapping({**node, "handle_chinese_chars": False})  # the kernel isolates CJK itself
    kernel = _kernel_classes()
    expected = hu.classes("bert_split").copy()
    if node.get("handle_chinese_chars", True):  # the reference isolates its CJK characters with spaces
        for first, last in HF_CJK_RANGES:
            expected[first:last + 1] = 2
    expected[0x20] = kernel[0x20]
    code_points, categories, _ = unicode_rules.all_chars()
    spacing_marks = np.zeros(len(code_points), bool)  # Mc / Me with a combining class: NFD may move them
    marks = np.flatnonzero(np.isin(categories, ["Mc", "Me"]))
    spacing_marks[marks] = [bool(unicodedata.combining(chr(code_points[i]))) for i in marks]
    risky = np.zeros(hu.SIZE, bool)
    risky[code_points] = (kernel[code_points] != expected[code_points]) | spacing_marks
    risky[GOOGLE_ONLY_CJK[0]:GOOGLE_ONLY_CJK[1] + 1] = True
    table = {}
    for cp, out in mapping.items():
        if cp > 0xFFFF and not out and unicodedata.category(chr(cp)) == "Co":
            continue  # left alone: [UNK] (see the module docstring)
        if any(risky[c] for c in out):
            table[chr(cp)] = fallback
        else:
            table[chr(cp)] = "".join(map(chr, out))
    for cp in np.flatnonzero(risky):
        if int(cp) not in mapping and not 0xD800 <= cp <= 0xDFFF:
            table[chr(cp)] = fallback
    for ch in vocab_chars:
        if unicodedata.category(ch) == "Cn":
            table[ch] = fallback
    return table


class BertFastPath:
    """FastBertNormalizer + FastWordpieceTokenizer for a BERT tokenizer.json: strings `[B]` -> int32 ids."""

    def __init__(self, node: dict, vocab: dict[str, int], unk: str, prefix: str, max_chars: int):
        tokens = sorted(vocab, key=vocab.get)
        vocab_chars = set("".join(tokens))
        fallback = next(chr(c) for c in NONCHARACTERS if chr(c) not in vocab_chars)
        model = normalizer_model.build_model(fast_table(node, fallback, vocab_chars))
        self._normalizer = text.FastBertNormalizer(model_buffer=eager_constant(np.frombuffer(model, np.uint8)))
        self._ids = eager_constant([vocab[t] for t in tokens], tf.int32)
        self._wordpiece = text.FastWordpieceTokenizer(vocab=tokens, suffix_indicator=prefix, unknown_token=unk,
                                                      max_bytes_per_word=max_chars, token_out_type=tf.int32)

    def __call__(self, texts: tf.Tensor) -> tf.RaggedTensor:
        ids = self._wordpiece.tokenize(self._normalizer.normalize(texts))  # [B, (P)] positions in `tokens`
        return ids.with_flat_values(tf.gather(self._ids, ids.flat_values))
