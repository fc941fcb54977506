"""The normalizers of a Hugging Face `tokenizer.json`, as steps on code points `[B, (C)] -> [B, (C')]`.

Supported: BertNormalizer, Lowercase, StripAccents, NFC / NFD / NFKC / NFKD, Precompiled, Replace,
Strip, Prepend and Sequence of them. The per-character ones come from the reference's own tables
(`hf_unicode`); consecutive per-character steps are fused into one table. The Unicode normal forms run on
ICU (`tensorflow_text.normalize_utf8`), whose Unicode version may differ from the reference's
unicode-normalization crate on characters new in the latest versions (see docs/tokenizer_parity.md).
"""

from __future__ import annotations

import base64
import binascii
import functools

import tensorflow as tf
import tensorflow_text as text

from bertkit.core.errors import BertkitError
from bertkit.tokenization import hf_unicode as hu
from bertkit.tokenization.codepoints import CodePointMap, compose
from bertkit.tokenization.precompiled import Precompiled

SUPPORTED = ("BertNormalizer", "Lowercase", "StripAccents", "NFC", "NFD", "NFKC", "NFKD", "Precompiled", "Replace",
             "Strip", "Prepend", "Sequence")
# BertNormalizer's `is_chinese_char` blocks (tokenizers: note 0x2B920, where Google's code says 0x2B820).
HF_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
                 (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


# Non-Mn characters with a non-zero combining class (the Mc ones of Python's Unicode 14): NFD may reorder
# them, after which stripping Mn leaves them in another order than stripping character by character.
REORDERED_MARKS = (0x1715, 0x1734, 0x1B44, 0x1BAA, 0x1BF2, 0x1BF3, 0x302E, 0x302F, 0xA953, 0xA9C0, 0x111C0, 0x11235,
                   0x1134D, 0x116B6, 0x1193D, 0x16FF0, 0x16FF1, 0x1D165, 0x1D166, 0x1D16D, 0x1D16E, 0x1D16F, 0x1D170,
                   0x1D171, 0x1D172)


def flatten(node: dict | None) -> list[dict]:
    """The normalizers of a (possibly nested) Sequence, in order."""
    if not node:
        return []
    if node.get("type") == "Sequence":
        return [n for child in node.get("normalizers", []) for n in flatten(child)]
    return [node]


def bert_mapping(node: dict) -> dict[int, tuple[int, ...]]:
    """BertNormalizer as one per-character mapping (clean, CJK spacing, strip accents, lower-case)."""
    lowercase = bool(node.get("lowercase", True))
    strip = node.get("strip_accents")
    return _bert_mapping(bool(node.get("clean_text", True)), bool(node.get("handle_chinese_chars", True)),
                         lowercase if strip is None else bool(strip), lowercase)


@functools.lru_cache(maxsize=8)
def _bert_mapping(clean: bool, chinese: bool, strip: bool, lowercase: bool) -> dict[int, tuple[int, ...]]:
    steps = []
    if clean:
        steps.append({cp: () if value == hu.BERT_DELETED else (0x20,)
                      for first, last, value in hu.runs("bert_clean") for cp in range(first, last + 1)})
    if chinese:
        steps.append({cp: (0x20, cp, 0x20) for first, last in HF_CJK_RANGES for cp in range(first, last + 1)})
    if strip:
        steps.append(hu.mapping("nfd_strip"))
    if lowercase:
        steps.append(hu.mapping("lowercase"))
    return compose(*steps) if steps else {}


def per_char_mapping(node: dict) -> dict[int, tuple[int, ...]] | None:
    """The mapping of a normalizer that acts on each character alone, or None."""
    kind = node.get("type")
    if kind == "BertNormalizer":
        return bert_mapping(node)
    if kind == "Lowercase":
        return hu.mapping("lowercase")
    if kind == "StripAccents":
        return {cp: () for first, last, _ in hu.runs("mark_nonspacing") for cp in range(first, last + 1)}
    return None


class Normalizer:
    """A `tokenizer.json` "normalizer" in graph ops; `None` in the file is the identity."""

    def __init__(self, node: dict | None, source: str):
        self.steps = []  # callables on code points [B, (C)]
        pending: list[dict] = []
        for child in flatten(node):
            mapping = per_char_mapping(child)
            if mapping is not None:
                if _strips_accents(child):  # NFD may reorder marks: the one thing not done per character
                    if pending:
                        self.steps.append(CodePointMap(compose(*pending)))
                        pending = []
                    self.steps.append(_reorder_marks)
                pending.append(mapping)
                continue
            if pending:
                self.steps.append(CodePointMap(compose(*pending)))
                pending = []
            self.steps.append(_step(child, source))
        if pending:
            self.steps.append(CodePointMap(compose(*pending)))
        self.lowercases = any(child.get("type") == "Lowercase" or (child.get("type") == "BertNormalizer" and
                                                                  child.get("lowercase", True))
                              for child in flatten(node))

    def resources(self) -> list:
        return [r for step in self.steps for r in getattr(step, "resources", lambda: [])()]

    def __call__(self, cps: tf.RaggedTensor) -> tf.RaggedTensor:
        for step in self.steps:
            cps = step(cps)
        return cps


def _strips_accents(node: dict) -> bool:
    strip = node.get("strip_accents")
    return node.get("type") == "BertNormalizer" and (node.get("lowercase", True) if strip is None else bool(strip))


def _reorder_marks(cps: tf.RaggedTensor) -> tf.RaggedTensor:
    """NFD (ICU) on the texts that hold a spacing mark with a combining class, which canonical ordering
    may move (25 characters, e.g. U+1D16D before U+1D165): BertNormalizer's NFD runs on whole texts.
    NFD first and then the per-character steps gives what the reference gives."""
    marks = tf.reduce_any(tf.equal(cps.flat_values[:, None], tf.constant(REORDERED_MARKS, tf.int32)[None, :]), 1)  # [C]
    has = tf.math.unsorted_segment_max(tf.cast(marks, tf.int32), cps.value_rowids(), cps.nrows()) > 0  # [B]

    def reorder():
        strings = tf.strings.unicode_encode(cps, "UTF-8")
        strings = tf.where(has, text.normalize_utf8(strings, "NFD"), strings)
        return tf.strings.unicode_decode(strings, "UTF-8", errors="replace").with_row_splits_dtype(tf.int64)

    return tf.cond(tf.reduce_any(has), reorder, lambda: cps)


def _step(node: dict, source: str):
    kind = node.get("type")
    if kind in ("NFC", "NFD", "NFKC", "NFKD"):
        return _on_strings(lambda x: text.normalize_utf8(x, kind))
    if kind == "Precompiled":
        try:
            blob = base64.b64decode(node["precompiled_charsmap"] or "")
        except (KeyError, binascii.Error) as e:
            raise BertkitError(f"{source}: the Precompiled normalizer has no readable precompiled_charsmap ({e}).") \
                from None
        return Precompiled(blob, source) if blob else (lambda cps: cps)
    if kind == "Replace":
        return _replace(node, source)
    if kind == "Strip":
        left, right = node.get("strip_left", True), node.get("strip_right", True)
        space = f"[{hu.WHITE_SPACE_RE2}]+"
        pattern = "|".join(([f"^{space}"] if left else []) + ([f"{space}$"] if right else []))
        return _on_strings(lambda x: tf.strings.regex_replace(x, pattern, "")) if pattern else (lambda cps: cps)
    if kind == "Prepend":
        prefix = node["prepend"]
        return _on_strings(lambda x: tf.where(x == "", x, tf.strings.join([prefix, x])))
    raise BertkitError(f"{source}: normalizer {kind!r} is not supported in the graph; bertkit supports "
                       f"{', '.join(SUPPORTED)}.")


def _replace(node: dict, source: str):
    """Replace(pattern, content): a literal string, or a regex (RE2 syntax; Oniguruma-only features fail)."""
    pattern, content = node.get("pattern", {}), node.get("content", "")
    if "String" in pattern:
        regex = "".join(f"\\x{{{ord(c):X}}}" for c in pattern["String"])
    elif "Regex" in pattern:
        regex = pattern["Regex"]
    else:
        raise BertkitError(f"{source}: a Replace normalizer without a String or Regex pattern.")
    rewrite = content.replace("\\", "\\\\")
    try:
        tf.strings.regex_replace(tf.constant([""]), regex, rewrite)
    except tf.errors.InvalidArgumentError as e:
        raise BertkitError(f"{source}: the Replace pattern {regex!r} is not valid RE2 ({e.message}); bertkit runs "
                           "normalizer regexes on TensorFlow's RE2.") from None
    return _on_strings(lambda x: tf.strings.regex_replace(x, regex, rewrite))


def _on_strings(function):
    """A step on strings, run on code points."""
    def step(cps: tf.RaggedTensor) -> tf.RaggedTensor:
        strings = function(tf.strings.unicode_encode(cps, "UTF-8"))
        return tf.strings.unicode_decode(strings, "UTF-8", errors="replace").with_row_splits_dtype(tf.int64)

    return step
