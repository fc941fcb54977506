"""Each piece's character span within its word, by spelling: the one exact method every kind shares.

A kind gives, per character of the word, what its normalizer makes of that character alone, and per
piece id the text the piece stands for (WordPiece: the token without "##"; SentencePiece: "▁" read as
a space; byte-level BPE: the bytes). When the pieces of a word spell exactly the word's characters
normalized one by one, every piece's bytes come from known characters, so its span is exact. Otherwise
(an unknown piece, a normalization that looks at neighbours) every piece of the word spans the whole
word, as run_squad's word-level mapping does. Everything is compared in UTF-8 bytes, so a piece that
holds half a character (byte-level BPE) spans that character.
"""

from __future__ import annotations

import tensorflow as tf


def aligned_spans(chars: tf.RaggedTensor, normalized: tf.Tensor, pieces: tf.RaggedTensor, spelling: tf.Tensor,
                  unknown: tf.Tensor, prefix: str = "", prefix_span: str = "empty",
                  end_at: str = "last") -> tuple[tf.Tensor, tf.Tensor]:
    """Character spans of pieces within their words.

    Args:
        chars: code points of the words `[N, (C)]`.
        normalized: string `[C]`, each character of `chars` normalized on its own ("" if deleted).
        pieces: ids `[N, (P)]`.
        spelling: string `[V]`, the text each piece id stands for.
        unknown: bool `[V]`, ids that stand for no known text (e.g. [UNK]).
        prefix: text the tokenizer puts before every word (a space for SentencePiece's dummy prefix and
            byte-level BPE's word-initial space).
        prefix_span: what a piece of nothing but the prefix spans: "empty" (0, 0), or "first" the first
            character (Hugging Face's Metaspace gives the prepended "▁" the first character's offsets).
        end_at: "last": a piece ends after the character of its last byte (Hugging Face); "next": where the
            character of the next byte starts (SentencePiece: of a character that normalizes to several,
            only the piece holding the last of them spans it).

    Returns:
        int64 `(start, end)` `[P total]`, character offsets within the piece's word (end exclusive).
    """
    n_words = chars.nrows()
    char_bytes = tf.cast(tf.strings.length(normalized), tf.int64)  # [C]
    char_index = tf.ragged.range(chars.row_lengths()).flat_values  # [C] position in its word
    word_text = tf.strings.reduce_join(chars.with_flat_values(normalized), axis=1)  # [N]
    origin = tf.repeat(char_index, char_bytes)  # [B] normalized byte -> character of the word
    origin_splits = tf.concat([[0], tf.cumsum(tf.math.unsorted_segment_sum(
        char_bytes, chars.value_rowids(), n_words))], 0)  # [N + 1]
    if prefix:
        word_text = tf.strings.join([prefix, word_text])
        skip = len(prefix.encode("utf-8"))
    else:
        skip = 0

    piece_text = tf.gather(spelling, pieces.flat_values)  # [P]
    piece_bytes = tf.cast(tf.strings.length(piece_text), tf.int64)  # [P]
    word_of_piece = pieces.value_rowids()  # [P]
    spelled = tf.strings.reduce_join(pieces.with_flat_values(piece_text), axis=1)  # [N]
    bad = tf.gather(unknown, pieces.flat_values)  # [P]
    any_bad = tf.math.unsorted_segment_max(tf.cast(bad, tf.int32), word_of_piece, n_words) > 0  # [N]
    matched = tf.gather((spelled == word_text) & ~any_bad, word_of_piece)  # [P]

    offset = tf.cumsum(piece_bytes, exclusive=True)  # [P] where the piece starts, in its word's bytes ...
    offset -= tf.gather(tf.concat([offset, [0]], 0), tf.gather(pieces.row_splits, word_of_piece))
    offset = offset - skip  # ... after the prefix
    length = tf.gather(origin_splits[1:] - origin_splits[:-1], word_of_piece)  # [P] normalized bytes of the word
    first = tf.clip_by_value(offset, 0, tf.maximum(length - 1, 0))
    last = tf.clip_by_value(offset + piece_bytes - 1, 0, tf.maximum(length - 1, 0))
    base = tf.gather(origin_splits, word_of_piece)
    padded = tf.concat([origin, [0]], axis=0)
    whole = tf.gather(chars.row_lengths(), word_of_piece)  # [P]
    has_text = (piece_bytes > 0) & (offset + piece_bytes > 0)  # more than nothing, more than the prefix
    start = tf.where(matched, tf.gather(padded, base + first), 0)
    if end_at == "next":
        after = offset + piece_bytes  # the byte after the piece: its character, or the word's end
        end_text = tf.where(after < length, tf.gather(padded, base + tf.clip_by_value(after, 0, length)), whole)
    else:
        end_text = tf.gather(padded, base + last) + 1
    only_prefix = tf.minimum(whole, 1) if prefix_span == "first" else start
    end = tf.where(matched, tf.where(has_text, end_text, only_prefix), whole)
    return start, end
