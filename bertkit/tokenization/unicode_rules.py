"""The character rules of Google's BERT `BasicTokenizer`, as tables for in-graph ops.

Everything here is computed from Python's `unicodedata` and `str.lower` - the very functions the
official tokenizer calls - so the graph ops that consume these tables behave like the official
code on this Python's Unicode version, whatever Unicode version ICU or RE2 inside TensorFlow has.

Two consumers:
* `fast_mapping`: a per-character replacement table for the fast path (a custom
  `FastBertNormalizer` model, see `normalizer_model.py`).
* `RegexClasses`: RE2 character classes for the exact fallback path (`tokenization.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import unicodedata

import numpy as np

MAX_CODE_POINT = 0x10FFFF
CAPITAL_SIGMA = "\u03a3"

# The official `_is_chinese_char` blocks: CJK Unified Ideographs, Ext. A-E and the compatibility
# ideographs. FastWordpieceTokenizer isolates exactly these too (fast_wordpiece_tokenizer_utils.h).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def strip_accents(text: str) -> str:
    """Official `_run_strip_accents`: NFD, then drop non-spacing marks (Mn)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def all_chars() -> tuple[np.ndarray, np.ndarray, str]:
    """`(code_points, categories, chars)` of every code point but the surrogates, ascending (cached)."""
    return _chars()


@functools.lru_cache(maxsize=1)
def _chars() -> tuple[np.ndarray, np.ndarray, str]:
    """`(code_points, categories, chars)` of every code point except the surrogates (which cannot
    occur in UTF-8 text), ascending; `chars` is one string holding them all."""
    code_points = np.array([cp for cp in range(MAX_CODE_POINT + 1) if not 0xD800 <= cp <= 0xDFFF])
    chars = "".join(map(chr, code_points))
    categories = np.array([unicodedata.category(ch) for ch in chars])
    return code_points, categories, chars


@functools.lru_cache(maxsize=1)
def _deleted_mask() -> np.ndarray:
    """Official `_clean_text` drops NUL, U+FFFD and `_is_control`: Cc and Cf except \\t, \\n, \\r.

    Private-use (Co) and unassigned (Cn) code points are kept: they stay inside their word, which then
    becomes [UNK] unless the vocabulary has them.
    """
    code_points, categories, _ = _chars()
    control = np.isin(categories, ["Cc", "Cf"]) & ~np.isin(code_points, [0x09, 0x0A, 0x0D])
    return control | np.isin(code_points, [0, 0xFFFD])


def is_deleted(ch: str) -> bool:
    """One character of `_deleted_mask`: what the official `_clean_text` drops."""
    return ch in "\x00\ufffd" or (unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r")


def _per_char(chars, function) -> list[str]:
    """`[function(ch) for ch in chars]`, run as one call over a newline-joined string (newline is
    neither cased, case-ignorable nor combining, so no character sees its neighbours; `function`
    must keep newlines and must not be given one)."""
    return function("\n".join(chars)).split("\n")


def _kept_chars(extra_mask=None) -> str:
    """All characters `_clean_text` keeps, except the newline (see `_per_char`) and the private-use and
    unassigned ones (no case, no decomposition: every rule leaves them as they are)."""
    _, categories, chars = _chars()
    mask = ~_deleted_mask() & ~np.isin(categories, ["Cn", "Co"])
    mask[ord("\n")] = False
    if extra_mask is not None:
        mask &= extra_mask
    return "".join(chars[i] for i in np.flatnonzero(mask))


@functools.lru_cache(maxsize=4)
def fast_mapping(do_lower_case: bool, fallback_char: str) -> dict[str, str]:
    """Per-character replacements that turn raw text into what the official basic tokenizer sees
    before it splits on whitespace and punctuation.

    Deleted characters map to "", and with `do_lower_case` every character maps to
    `strip_accents(ch.lower())`. Unchanged characters are left out. The context-dependent cases of
    `do_lower_case`, which a per-character table cannot do, map to `fallback_char` (a character no
    vocabulary token contains, so it produces [UNK] and the caller redoes the text exactly): capital
    sigma (lower-cases to a final or a medial sigma depending on its neighbours) and the 25 spacing
    combining marks with a non-zero combining class (NFD can reorder them with their neighbours).

    Args:
        do_lower_case: as the official tokenizer's flag.
        fallback_char: placeholder for the context-dependent characters.

    Returns:
        char -> replacement, for every character the fast path must change.
    """
    _, _, chars = _chars()
    mapping = {chars[i]: "" for i in np.flatnonzero(_deleted_mask())}
    if do_lower_case:
        kept = _kept_chars()
        for ch, new in zip(kept, _per_char(kept, lambda s: strip_accents(s.lower()))):
            if ch == CAPITAL_SIGMA or (unicodedata.combining(ch) and unicodedata.category(ch) != "Mn"):
                mapping[ch] = fallback_char
            elif new != ch:
                mapping[ch] = new
    return mapping


@functools.lru_cache(maxsize=1)
def lower_mapping() -> dict[str, str]:
    """`ch.lower()` for every kept character it changes (capital sigma -> the medial form)."""
    kept = _kept_chars()
    return {ch: new for ch, new in zip(kept, _per_char(kept, str.lower)) if new != ch}


def char_class(mask: np.ndarray) -> str:
    """An RE2 character class `[...]` of the code points where `mask` (over `_chars()`) is set."""
    code_points = _chars()[0][mask]
    if not len(code_points):
        raise ValueError("empty character class")
    breaks = np.flatnonzero(np.diff(code_points) != 1)
    starts = code_points[np.concatenate([[0], breaks + 1])]
    ends = code_points[np.concatenate([breaks, [len(code_points) - 1]])]
    parts = [f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in zip(starts, ends)]
    return "[" + "".join(parts) + "]"


def _final_sigma_masks() -> tuple[np.ndarray, np.ndarray]:
    """Masks `cased and not case-ignorable`, `case-ignorable` as Python's `str.lower` uses them to
    choose the final sigma (Unicode Final_Sigma: a cased letter, case-ignorables, sigma, and no
    case-ignorables-then-cased-letter after it).

    Python exposes neither property, so read them off `str.lower` itself: `ch + "Σ"` ends in a
    final sigma iff `ch` is cased and not ignorable; `"A" + ch + "Σ"` iff `ch` is either.
    """
    code_points, _, chars = _chars()
    probe = _kept_chars()
    index = np.searchsorted(code_points, [ord(ch) for ch in probe])
    final = "\u03c2"
    cased_only = np.array([p[-1] == final for p in _per_char([c + CAPITAL_SIGMA for c in probe], str.lower)])
    either = np.array([p[-1] == final for p in _per_char(["A" + c + CAPITAL_SIGMA for c in probe], str.lower)])
    cased = np.zeros(len(chars), dtype=bool)
    ignorable = np.zeros(len(chars), dtype=bool)
    cased[index[cased_only]] = True
    ignorable[index[either & ~cased_only]] = True
    return cased, ignorable


@functools.lru_cache(maxsize=1)
def invisible_class() -> str:
    """RE2 class of what never reaches a WordPiece: the characters `_clean_text` deletes and every
    whitespace character (Z* and `str.isspace`), used to line pieces up with the word they came from."""
    _, categories, chars = _chars()
    isspace = np.zeros(len(chars), dtype=bool)
    isspace[: 0x3001] = [ch.isspace() for ch in chars[: 0x3001]]  # none above U+3000
    return char_class(_deleted_mask() | np.char.startswith(categories, "Z") | isspace)


@dataclasses.dataclass(frozen=True)
class RegexClasses:
    """RE2 character classes of the official rules (each a `[...]` string)."""

    deleted: str  # dropped by `_clean_text`
    whitespace: str  # `_is_whitespace`, plus U+2028/U+2029 which `str.split()` also splits on
    isolated: str  # `_is_punctuation` and `_is_chinese_char`: each one becomes its own word
    nonspacing: str  # Mn, removed after NFD when lower-casing
    cased: str  # Final_Sigma context, see `_final_sigma_masks`
    case_ignorable: str


@functools.lru_cache(maxsize=1)
def regex_classes() -> RegexClasses:
    """The official character rules as RE2 classes (computed once per process, ~0.3 s)."""
    code_points, categories, chars = _chars()
    deleted = _deleted_mask()
    isspace = np.zeros(len(chars), dtype=bool)
    isspace[: 0x3001] = [ch.isspace() for ch in chars[: 0x3001]]  # none above U+3000
    ascii_punct = (
        ((code_points >= 33) & (code_points <= 47))
        | ((code_points >= 58) & (code_points <= 64))
        | ((code_points >= 91) & (code_points <= 96))
        | ((code_points >= 123) & (code_points <= 126))
    )
    cjk = np.zeros(len(chars), dtype=bool)
    for lo, hi in CJK_RANGES:
        cjk |= (code_points >= lo) & (code_points <= hi)
    cased, ignorable = _final_sigma_masks()
    return RegexClasses(
        deleted=char_class(deleted),
        whitespace=char_class(~deleted & (isspace | (categories == "Zs"))),
        isolated=char_class(ascii_punct | np.char.startswith(categories, "P") | cjk),
        nonspacing=char_class(categories == "Mn"),
        cased=char_class(cased),
        case_ignorable=char_class(ignorable),
    )
