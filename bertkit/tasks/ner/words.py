"""Words and their casing, as graph ops: raw text -> words with character offsets, pre-split words ->
the text they spell, and each word's casing class (what an uncased vocabulary throws away).

Raw text is split into runs of word characters (with inner `. ' & -` kept: "U.S", "1996-08-22",
"don't") and single other non-space characters (punctuation stands alone), the way CoNLL-2003 is
tokenised. RE2's `\\w` and `\\s` are ASCII only, so the Unicode classes are spelled out: a word
character is a letter or a number (`\\p{L}`, `\\p{N}`), whitespace is what Python's `str.isspace` says.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

WHITESPACE_RE2 = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\p{Z}"
WORD_RE2 = r"[\p{L}\p{N}](?:[\p{L}\p{N}_.'&-]*[\p{L}\p{N}])?|[^" + WHITESPACE_RE2 + "]"
CASES = ("pad", "lower", "title", "upper", "mixed", "number", "other")  # word shapes, index = case id


def split_words(text) -> dict:
    """`[B]` strings -> `words` `[B, (W)]` with byte and character offsets `[B, (W)]` (int64, end exclusive)."""
    # The regex split stops at a NUL character; U+0001 is, like it, a lone non-space "word".
    safe = tf.strings.regex_replace(text, r"\x00", "\x01")
    pieces, starts, ends = tf_text.regex_split_with_offsets(safe, WORD_RE2, WORD_RE2)  # [B, (pieces)]
    # Every non-space character matches WORD_RE2, so what lies between the matches is whitespace.
    keep = tf.ragged.map_flat_values(
        lambda p: tf.logical_not(tf.strings.regex_full_match(p, "[" + WHITESPACE_RE2 + "]+")), pieces)
    byte_start, byte_end = (tf.ragged.boolean_mask(x, keep) for x in (starts, ends))
    words = tf.RaggedTensor.from_tensor(  # cut from the original text, NULs included
        tf.strings.substr(text[:, None], byte_start.to_tensor(0), (byte_end - byte_start).to_tensor(0)),
        lengths=byte_start.row_lengths())  # [B, (W)]
    _, char_bytes = tf.strings.unicode_decode_with_offsets(text, "UTF-8")  # [B, (C)] byte offset of each char
    table = char_bytes.to_tensor(default_value=tf.int64.max)  # [B, C]

    def to_chars(offsets):  # a byte offset -> the number of characters that start before it
        dense = offsets.to_tensor(default_value=0)  # [B, W]
        found = tf.searchsorted(table, dense, side="left", out_type=tf.int64)  # [B, W]
        return tf.RaggedTensor.from_tensor(found, lengths=offsets.row_lengths())

    return {"text": text, "words": words, "byte_start": byte_start, "byte_end": byte_end,
            "char_start": to_chars(byte_start), "char_end": to_chars(byte_end)}


def join_words(words) -> dict:
    """Pre-split words `[B, (W)]` (CoNLL) -> the text they spell joined by single spaces, with the same
    offsets as `split_words` gives."""
    def starts(lengths):  # [B, (W)] -> offset of each word in "w1 w2 ...": lengths + 1 space, summed
        ends = tf.math.cumsum(lengths + 1, axis=1)  # ragged cumsum along the words
        return ends - lengths - 1

    byte_len = tf.ragged.map_flat_values(tf.strings.length, words)
    char_len = tf.ragged.map_flat_values(tf.strings.length, words, unit="UTF8_CHAR")
    byte_start, char_start = starts(tf.cast(byte_len, tf.int64)), starts(tf.cast(char_len, tf.int64))
    return {"text": tf.strings.reduce_join(words, axis=1, separator=" "), "words": words,
            "byte_start": byte_start, "byte_end": byte_start + tf.cast(byte_len, tf.int64),
            "char_start": char_start, "char_end": char_start + tf.cast(char_len, tf.int64)}


def case_ids(words):
    """`[N]` words -> int32 `[N]` casing classes (index into CASES), by Unicode general category:
    no letter -> number (a decimal digit) or other; all letters Ll -> lower; all Lu -> upper (title
    when a single letter); Lu then Ll... -> title; else mixed."""
    chars = tf.strings.unicode_split(words, "UTF-8")  # [N, (C)]

    def has(pattern):
        return tf.ragged.map_flat_values(tf.strings.regex_full_match, chars, pattern)  # [N, (C)] bool

    letter, lower, upper, digit = has(r"\p{L}"), has(r"\p{Ll}"), has(r"\p{Lu}"), has(r"\p{Nd}")
    count = lambda flags: tf.reduce_sum(tf.cast(flags, tf.int32), axis=1)  # noqa: E731  [N]
    letters, lowers, uppers = count(letter), count(lower), count(upper)
    first_upper = tf.reduce_any(tf.ragged.boolean_mask(upper, letter)[:, :1], axis=1)  # [N]
    c = {name: tf.constant(CASES.index(name), tf.int32) for name in CASES}
    return tf.where(letters == 0, tf.where(tf.reduce_any(digit, axis=1), c["number"], c["other"]),
           tf.where(lowers == letters, c["lower"],
           tf.where(uppers == letters, tf.where(letters > 1, c["upper"], c["title"]),
           tf.where(first_upper & (lowers == letters - 1), c["title"], c["mixed"]))))
