"""The pre-tokenizers of a Hugging Face `tokenizer.json`: segments `[S, (C)]` -> words `[S, (W), (c)]`.

Supported: BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation (isolated), Metaspace, ByteLevel
and Sequence of them. Each one decides, per code point, whether a word starts there and whether the
character is kept, from local rules on the characters' classes; the classes are the reference's own
(`hf_unicode`), so no regex engine (whose Unicode tables lag) is involved. ByteLevel's GPT-2 regex

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

is such a set of rules: a space joins the run after it; a run of whitespace before a non-space leaves
its last character, which is a word of its own unless it is a space (then it joins); an apostrophe
that starts a word and is followed by s|t|m|d or re|ve|ll is a contraction.
"""

from __future__ import annotations

import tensorflow as tf

from bertkit.core.errors import BertkitError
from bertkit.tokenization import hf_unicode as hu
from bertkit.tokenization.codepoints import ClassTable

SUPPORTED = ("BertPreTokenizer", "Whitespace", "WhitespaceSplit", "Punctuation", "Metaspace", "ByteLevel", "Sequence")
APOSTROPHE = ord("'")
CONTRACTIONS_2 = tuple(map(ord, "stmd"))  # 's 't 'm 'd
CONTRACTIONS_3 = (("r", "e"), ("v", "e"), ("l", "l"))  # 're 've 'll


def flatten(node: dict | None) -> list[dict]:
    if not node:
        return []
    if node.get("type") == "Sequence":
        return [n for child in node.get("pretokenizers", []) for n in flatten(child)]
    return [node]


def split_words(cps: tf.RaggedTensor, start: tf.Tensor, keep: tf.Tensor) -> tf.RaggedTensor:
    """Groups kept characters into words: `cps` `[S, (C)]`, `start`/`keep` bool `[C]` -> `[S, (W), (c)]`.

    The first kept character of a segment always starts a word.
    """
    flat, row = cps.flat_values, cps.value_rowids()
    x, starts, rows = tf.boolean_mask(flat, keep), tf.boolean_mask(start, keep), tf.boolean_mask(row, keep)
    starts |= tf.not_equal(rows, tf.concat([[-1], rows[:-1]], 0))  # [K]
    word = tf.cumsum(tf.cast(starts, tf.int64)) - 1  # [K]
    n_words = tf.reduce_sum(tf.cast(starts, tf.int64))
    words = tf.RaggedTensor.from_value_rowids(x, word, nrows=n_words, validate=False)  # [W, (c)]
    return tf.RaggedTensor.from_value_rowids(words, tf.boolean_mask(rows, starts), nrows=cps.nrows(), validate=False)


def neighbours(cps: tf.RaggedTensor, values: tf.Tensor, fill, step: int = 1) -> tf.Tensor:
    """`values` of the character `step` places before (`step` > 0) or after (< 0) in the same segment, or `fill`."""
    n = tf.size(values)
    row = cps.value_rowids()
    pad = tf.fill([abs(step)], tf.cast(fill, values.dtype))
    pad_row = tf.fill([abs(step)], tf.constant(-1, row.dtype))
    if step > 0:
        shifted, shifted_row = tf.concat([pad, values], 0)[:n], tf.concat([pad_row, row], 0)[:n]
    else:
        shifted, shifted_row = tf.concat([values, pad], 0)[-step:], tf.concat([row, pad_row], 0)[-step:]
    return tf.where(tf.equal(shifted_row, row), shifted, tf.cast(fill, values.dtype))


class PreTokenizer:
    """A `tokenizer.json` "pre_tokenizer" in graph ops (None: each segment is one word)."""

    def __init__(self, node: dict | None, source: str):
        self.steps = [_step(child, source) for child in flatten(node)]
        self.byte_level = next((s for s in self.steps if isinstance(s, ByteLevel)), None)
        self.metaspace = next((s for s in self.steps if isinstance(s, Metaspace)), None)

    def __call__(self, cps: tf.RaggedTensor, first: tf.Tensor) -> tf.RaggedTensor:
        """Segments `[S, (C)]` (`first` bool `[S]`: the segment starts its text) -> words `[S, (W), (c)]`."""
        words = tf.RaggedTensor.from_row_lengths(cps, tf.ones_like(cps.row_lengths()))  # one word each
        words = tf.ragged.boolean_mask(words, cps.row_lengths()[:, None] > 0)
        for step in self.steps:
            flat = words.values  # [W, (c)] each word a segment of the next step
            first_of_word = tf.gather(first, words.value_rowids()) & (tf.ragged.range(words.row_lengths())
                                                                      .flat_values == 0)
            words = words.with_values(step(flat, first_of_word)).merge_dims(1, 2)
        return words


class _Classes:
    """Splits on whitespace and/or isolates punctuation, with BertPreTokenizer's classes."""

    def __init__(self, space: bool, punct: bool):
        self.space, self.punct = space, punct
        self.table = ClassTable(hu.classes("bert_split"))

    def __call__(self, cps, first):
        cls = self.table(cps.flat_values)  # [C]
        space, punct = tf.equal(cls, hu.SPLIT_SPACE), tf.equal(cls, hu.SPLIT_PUNCT)
        start = tf.zeros_like(space)
        if self.space:
            start |= neighbours(cps, space, False)
        if self.punct:
            start |= punct | neighbours(cps, punct, False)
        keep = ~space if self.space else tf.ones_like(space)
        return split_words(cps, start, keep)


class _Whitespace:
    """`\\w+|[^\\w\\s]+`: runs of word characters, runs of other non-spaces."""

    def __init__(self):
        self.table = ClassTable(hu.classes("whitespace"))

    def __call__(self, cps, first):
        cls = self.table(cps.flat_values)
        return split_words(cps, tf.not_equal(cls, neighbours(cps, cls, -1)), tf.not_equal(cls, hu.WHITESPACE))


class Metaspace:
    """Spaces become `replacement`, which is prepended (always / first segment / never) and starts words."""

    def __init__(self, node: dict):
        self.replacement = node.get("replacement", "\u2581")
        if len(self.replacement) != 1:
            raise BertkitError(f"Metaspace replacement {self.replacement!r}: bertkit supports one character.")
        scheme = node.get("prepend_scheme")
        if scheme is None:
            scheme = "always" if node.get("add_prefix_space", True) else "never"
        self.scheme, self.split = scheme, node.get("split", True)

    def __call__(self, cps, first):
        mark = ord(self.replacement)
        cps = tf.ragged.map_flat_values(lambda x: tf.where(tf.equal(x, 0x20), mark, x), cps)
        starts_marked = tf.equal(cps[:, :1].to_tensor(default_value=-1, shape=[None, 1])[:, 0], mark)
        prepend = (cps.row_lengths() > 0) & ~starts_marked
        if self.scheme == "first":  # the first word of the text only (bertkit: of its first segment)
            prepend &= first
        elif self.scheme == "never":
            prepend = tf.zeros_like(prepend)
        column = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(tf.cast(prepend, tf.int64))], mark),
                                                  tf.cast(prepend, tf.int64))
        cps = tf.concat([column, cps], axis=1)
        start = tf.equal(cps.flat_values, mark) if self.split else tf.zeros_like(cps.flat_values, tf.bool)
        return split_words(cps, start, tf.ones_like(start))


class ByteLevel:
    """GPT-2's byte-level pre-tokenizer: an optional leading space, then the GPT-2 regex (see module)."""

    def __init__(self, node: dict):
        self.add_prefix_space = node.get("add_prefix_space", True)
        self.use_regex = node.get("use_regex", True)
        self.table = ClassTable(hu.classes("byte_level"))

    def __call__(self, cps, first):
        if self.add_prefix_space:
            starts_space = tf.equal(cps[:, :1].to_tensor(default_value=-1, shape=[None, 1])[:, 0], 0x20)
            prepend = tf.cast((cps.row_lengths() > 0) & ~starts_space, tf.int64)
            column = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(prepend)], 0x20), prepend)
            cps = tf.concat([column, cps], axis=1)
        if not self.use_regex:
            start = tf.zeros_like(cps.flat_values, tf.bool)
            return split_words(cps, start, tf.ones_like(start))
        return split_words(cps, gpt2_starts(cps, self.table(cps.flat_values)), tf.ones_like(cps.flat_values, tf.bool))


def gpt2_starts(cps: tf.RaggedTensor, cls: tf.Tensor) -> tf.Tensor:
    """bool `[C]`: where the GPT-2 regex starts a word (see the module docstring)."""
    c = cps.flat_values
    prv, nxt = neighbours(cps, cls, -1), neighbours(cps, cls, -1, step=-1)  # -1 outside the segment
    solid = cls <= hu.OTHER  # L, N or other: not whitespace
    solid_next = (nxt >= 0) & (nxt <= hu.OTHER)
    joined = tf.equal(cls, hu.SPACE) & solid_next  # a space that joins the run after it
    after_joined = neighbours(cps, joined, False)
    start = (joined
             | (solid & tf.not_equal(prv, cls) & ~after_joined)
             | (~solid & ~joined & ~(prv >= hu.SPACE))  # a whitespace run starts
             | (tf.equal(cls, hu.WHITESPACE) & solid_next & (prv >= hu.SPACE)))  # `\s+(?!\S)` leaves the last one
    # Contractions: an apostrophe that starts a word (not after a joined space), then s|t|m|d or re|ve|ll.
    c1, c2 = neighbours(cps, c, -1, step=-1), neighbours(cps, c, -1, step=-2)
    apostrophe = start & tf.equal(c, APOSTROPHE) & ~after_joined
    two = apostrophe & tf.reduce_any(tf.stack([tf.equal(c1, x) for x in CONTRACTIONS_2]), axis=0)
    three = apostrophe & ~two & tf.reduce_any(tf.stack(
        [tf.equal(c1, ord(a)) & tf.equal(c2, ord(b)) for a, b in CONTRACTIONS_3]), axis=0)
    inside = neighbours(cps, two | three, False) | neighbours(cps, three, False, step=2)
    after = neighbours(cps, two, False, step=2) | neighbours(cps, three, False, step=3)
    return (start & ~inside) | after


def _step(node: dict, source: str):
    kind = node.get("type")
    if kind == "BertPreTokenizer":
        return _Classes(space=True, punct=True)
    if kind == "WhitespaceSplit":
        return _Classes(space=True, punct=False)
    if kind == "Punctuation":
        if node.get("behavior", "Isolated").lower() != "isolated":
            raise BertkitError(f"{source}: Punctuation pre-tokenizer behavior {node.get('behavior')!r}; bertkit "
                               "supports Isolated.")
        return _Classes(space=False, punct=True)
    if kind == "Whitespace":
        return _Whitespace()
    if kind == "Metaspace":
        return Metaspace(node)
    if kind == "ByteLevel":
        return ByteLevel(node)
    raise BertkitError(f"{source}: pre-tokenizer {kind!r} is not supported in the graph; bertkit supports "
                       f"{', '.join(SUPPORTED)}.")
