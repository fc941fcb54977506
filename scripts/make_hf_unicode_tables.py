"""Sweeps Hugging Face `tokenizers` over every code point and writes the per-character tables that
bertkit's in-graph `tokenizer.json` components use (bertkit/tokenization/data/hf_unicode.json).

The Rust components act per character, with the Unicode version of the crates they were built with
(Rust std, unicode_categories, unicode-normalization, Oniguruma, unicode-segmentation), which is
neither Python's `unicodedata` nor TensorFlow's ICU / RE2. Reading the tables off the reference itself
makes bertkit's graph ops agree with it on every character:

    bert_clean     BertNormalizer(clean_text): 1 deleted (Cc, Cf, Co, NUL, U+FFFD), 2 becomes a space
    nfd_strip      BertNormalizer(strip_accents) on one character: NFD without Mn (changed ones only;
                   Hangul syllables left out, their decomposition is arithmetic: `hangul_nfd`)
    lowercase      Lowercase (and BertNormalizer(lowercase)) on one character (changed ones only)
    mark_nonspacing  StripAccents: the Mn characters it removes
    bert_split     BertPreTokenizer: 1 whitespace (splits), 2 punctuation (a word of its own)
    byte_level     ByteLevel's regex classes: 0 \\p{L}, 1 \\p{N}, 2 other, 3 " ", 4 other \\s
    whitespace     Whitespace (`\\w+|[^\\w\\s]+`): 0 \\w, 2 other, 4 \\s
    grapheme       the grapheme-cluster classes Precompiled's clusters depend on (see below)

Grapheme classes: 1 CR, 2 LF, 3 Control, 4 joins the previous character (Extend, ZWJ, SpacingMark),
5 Prepend, 6-10 Hangul L, V, T, LV, LVT; 0 other. Class 4 is probed on Precompiled itself (a table
mapping "a" to "X" swallows a following character exactly when it joins the cluster); the others come
from the `regex` module's Grapheme_Cluster_Break property.

Run with tokenizers and regex installed (the test extra and `pip install regex`):

    python scripts/make_hf_unicode_tables.py [bertkit/tokenization/data/hf_unicode.json]
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import regex  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import normalizers, pre_tokenizers  # noqa: E402

from bertkit.tokenization.hf_unicode import HANGUL_FIRST, HANGUL_LAST, hangul_nfd  # noqa: E402
from bertkit.tokenization.normalizer_model import build_trie  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "bertkit" / "tokenization" / "data" / "hf_unicode.json"
CODE_POINTS = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
GRAPHEME = {"CR": 1, "LF": 2, "Control": 3, "Extend": 4, "ZWJ": 4, "SpacingMark": 4, "Prepend": 5, "L": 6, "V": 7,
            "T": 8, "LV": 9, "LVT": 10}


def ranges(values: dict[int, int]) -> list[list[int]]:
    """{code point: value} (0 left out) as sorted [first, last, value] runs."""
    out: list[list[int]] = []
    for cp in sorted(values):
        if out and out[-1][1] == cp - 1 and out[-1][2] == values[cp]:
            out[-1][1] = cp
        else:
            out.append([cp, cp, values[cp]])
    return out


def changed(normalizer, skip_hangul: bool = False) -> dict[str, list[int]]:
    out = {}
    for cp in CODE_POINTS:
        got = [ord(c) for c in normalizer.normalize_str(chr(cp))]
        if skip_hangul and HANGUL_FIRST <= cp <= HANGUL_LAST:
            assert got == hangul_nfd(cp), f"U+{cp:04X}"
        elif got != [cp]:
            out[str(cp)] = got
    return out


def pieces(pre_tokenizer, text: str) -> int:
    return len(pre_tokenizer.pre_tokenize_str(text))


def bert_tables() -> dict:
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                       lowercase=False)
    bert_clean = {}
    for cp in CODE_POINTS:
        got = clean.normalize_str(chr(cp))
        if got != chr(cp):
            bert_clean[cp] = {"": 1, " ": 2}[got]
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                                       lowercase=False)
    split = pre_tokenizers.BertPreTokenizer()
    bert_split = {}
    for cp in CODE_POINTS:
        n = pieces(split, "a" + chr(cp) + "a")
        if n != 1:
            bert_split[cp] = 1 if n == 2 else 2
    mark = normalizers.StripAccents()
    return {"bert_clean": ranges(bert_clean), "nfd_strip": changed(strip, skip_hangul=True), "lowercase": changed(normalizers.Lowercase()),
            "mark_nonspacing": ranges({cp: 1 for cp in CODE_POINTS if mark.normalize_str(chr(cp)) == ""}),
            "bert_split": ranges(bert_split)}


def regex_classes() -> dict:
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    whitespace = pre_tokenizers.Whitespace()
    classes, words = {}, {}
    for cp in CODE_POINTS:
        ch = chr(cp)
        if cp == 0x20:
            classes[cp] = 3
        elif pieces(byte_level, "x" + ch) == 1:
            pass  # \p{L}: class 0
        elif pieces(byte_level, "1" + ch) == 1:
            classes[cp] = 1
        elif pieces(byte_level, "!" + ch) == 1:
            classes[cp] = 2
        else:
            classes[cp] = 4
        got = whitespace.pre_tokenize_str("x" + ch + "x")
        if len(got) != 1:
            words[cp] = 4 if len(got) == 2 else 2
    return {"byte_level": ranges(classes), "whitespace": ranges(words)}


def charsmap(mapping: dict[str, str]) -> bytes:
    """A SentencePiece precompiled charsmap for `mapping` (darts-clone trie + NUL-terminated pool)."""
    pool, values = bytearray(), {}
    for key, value in mapping.items():
        values[key.encode("utf-8")] = len(pool)
        pool += value.encode("utf-8") + b"\0"
    trie = build_trie(values)
    trie = np.concatenate([trie, np.zeros(-len(trie) % 256, trie.dtype)])  # whole 256-unit blocks, as darts-clone
    return struct.pack("<I", 4 * len(trie)) + trie.tobytes() + bytes(pool)


def grapheme_classes() -> dict:
    text = "".join(chr(cp) if not 0xD800 <= cp <= 0xDFFF else " " for cp in range(0x110000))
    classes = {}
    for name, value in GRAPHEME.items():
        if value != 4:
            for match in regex.finditer(rf"\p{{Grapheme_Cluster_Break={name}}}+", text):
                classes.update((cp, value) for cp in range(match.start(), match.end()))
    probe = normalizers.Precompiled(charsmap({"a": "X"}))
    for cp in CODE_POINTS:  # "a" + c is one cluster (< 6 bytes) iff c joins: then "X" replaces all of it
        if probe.normalize_str("a" + chr(cp)) == "X":
            classes[cp] = 4
        elif classes.get(cp) == 4:
            del classes[cp]
    return {"grapheme": ranges(classes)}


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    tables = {"source": {"tokenizers": tokenizers.__version__, "regex": regex.__version__,
                         "script": "scripts/make_hf_unicode_tables.py"}}
    for part in (bert_tables, regex_classes, grapheme_classes):
        tables.update(part())
        print(part.__name__, "done", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(tables, separators=(",", ":")) + "\n", encoding="utf-8")
    print(out, out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
