"""Hugging Face's `Precompiled` normalizer (XLM-R, multilingual-e5, ALBERT, ...) in graph ops.

It reads SentencePiece's charsmap but walks the text by extended grapheme clusters (spm_precompiled):
a cluster shorter than 6 bytes is replaced as a whole by the replacement of its *shortest* key prefix,
when it has one (so marks after a mapped first character vanish); otherwise each character is replaced
on its own. SentencePiece itself applies the longest key anywhere, so the two differ on decomposed text.

Clusters of two or more characters under 6 bytes can only come from the local rules of UAX #29: CR LF,
a character followed by Extend / ZWJ / SpacingMark, Prepend followed by anything but a control, and
Hangul jamo sequences; the grapheme classes come from the reference (`hf_unicode`, "grapheme").
The non-local rules (emoji ZWJ sequences, regional-indicator pairs, Indic conjuncts) build clusters of
6 bytes or more, mapped per character either way, with one theoretical exception: a 2-byte pictograph
(U+00A9, U+00AE) + ZWJ + pictograph is one long cluster for the reference but a short "© ZWJ" cluster
here, which only matters if the charsmap has a key for U+00A9 or U+00AE (no known model's has).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertkit.tokenization import charsmap, hf_unicode as hu
from bertkit.tokenization.base import static_table
from bertkit.tokenization.codepoints import ClassTable, CodePointMap

MAX_CLUSTER_BYTES = 6  # clusters this long or longer are mapped per character
MAX_KEY_CHARS = 5  # a cluster under 6 bytes has at most 5 characters


class Precompiled:
    """`Precompiled(precompiled_charsmap)`: code points `[B, (C)]` -> normalized code points `[B, (C')]`."""

    def __init__(self, blob: bytes, source: str):
        table = charsmap.decode(blob, source)
        self.per_char = CodePointMap({ord(k): tuple(map(ord, v)) for k, v in table.items() if len(k) == 1})
        replacements = sorted(set(table.values()))
        row_of = {r: i for i, r in enumerate(replacements)}
        self._keys = static_table(list(table), [row_of[v] for v in table.values()], -1, tf.string, tf.int64)
        with tf.init_scope():
            self._replacements = tf.RaggedTensor.from_row_lengths(  # [R, (r)] code points of each replacement
                np.array([ord(c) for r in replacements for c in r], np.int32),
                np.array([len(r) for r in replacements], np.int64))
        self._grapheme = ClassTable(hu.classes("grapheme"))

    def resources(self) -> list:
        return [self._keys]

    def __call__(self, cps: tf.RaggedTensor) -> tf.RaggedTensor:
        flat = cps.flat_values  # [C] int32
        start = self._cluster_starts(cps)  # [C] a cluster begins here
        cluster = tf.cumsum(tf.cast(start, tf.int64)) - 1  # [C]
        n_clusters = tf.reduce_sum(tf.cast(start, tf.int64))
        n_bytes = tf.where(flat < 0x80, 1, tf.where(flat < 0x800, 2, tf.where(flat < 0x10000, 3, 4)))
        bytes_of = tf.math.unsorted_segment_sum(n_bytes, cluster, n_clusters)  # [G]
        chars_of = tf.math.unsorted_segment_sum(tf.ones_like(n_bytes), cluster, n_clusters)  # [G]
        short = tf.where((bytes_of < MAX_CLUSTER_BYTES) & (chars_of >= 2))[:, 0]  # [S] clusters mapped whole
        members = tf.gather(tf.RaggedTensor.from_value_rowids(flat, cluster, nrows=n_clusters), short)  # [S, (k)]
        best = tf.fill(tf.shape(short), tf.constant(-1, tf.int64))  # [S] row of the shortest key prefix
        for k in range(MAX_KEY_CHARS, 0, -1):  # shorter prefixes overwrite longer ones
            found = self._keys.lookup(tf.strings.unicode_encode(members[:, :k], "UTF-8"))  # [S]
            best = tf.where((found >= 0) & (members.row_lengths() >= k), found, best)
        whole = tf.scatter_nd(short[:, None], best + 1, n_clusters[None]) - 1  # [G] row, -1 none
        whole_of_char = tf.gather(whole, cluster)  # [C]

        by_char = self.per_char(tf.RaggedTensor.from_row_lengths(flat, tf.ones_like(cluster)))  # [C, (r)]
        by_cluster = tf.gather(self._replacements, tf.maximum(whole_of_char, 0))  # [C, (r)]
        empty = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros([1], tf.int64))  # [1, (0)]
        # A cluster mapped whole: its replacement on its first character, nothing on the others.
        n = tf.size(flat, out_type=tf.int64)
        i = tf.range(n)
        pick = tf.where(whole_of_char >= 0, tf.where(start, i, 2 * n), n + i)  # [C]
        out = tf.gather(tf.concat([by_cluster, by_char, empty], axis=0), pick)  # [C, (r)]
        return cps.with_flat_values(out).merge_dims(1, 2)

    def _cluster_starts(self, cps: tf.RaggedTensor) -> tf.Tensor:
        """bool `[C]`: a new grapheme cluster starts at this character (local rules of UAX #29)."""
        flat = cps.flat_values
        g = self._grapheme(flat)  # [C]
        prev = tf.concat([[0], g[:-1]], 0)[:tf.size(g)]  # [C]
        first = tf.ragged.range(cps.row_lengths()).flat_values == 0

        def isin(x, values):
            return tf.reduce_any(tf.stack([tf.equal(x, v) for v in values]), axis=0)

        controls = (hu.GRAPHEME_CR, hu.GRAPHEME_LF, hu.GRAPHEME_CONTROL)
        hangul = ((tf.equal(prev, hu.GRAPHEME_L) & isin(g, (hu.GRAPHEME_L, hu.GRAPHEME_V, hu.GRAPHEME_LV,
                                                              hu.GRAPHEME_LVT)))
                  | (isin(prev, (hu.GRAPHEME_LV, hu.GRAPHEME_V)) & isin(g, (hu.GRAPHEME_V, hu.GRAPHEME_T)))
                  | (isin(prev, (hu.GRAPHEME_LVT, hu.GRAPHEME_T)) & tf.equal(g, hu.GRAPHEME_T)))
        joins = (tf.equal(prev, hu.GRAPHEME_CR) & tf.equal(g, hu.GRAPHEME_LF)) | (
            ~isin(prev, controls) & ~isin(g, controls)
            & (tf.equal(g, hu.GRAPHEME_JOINS) | tf.equal(prev, hu.GRAPHEME_PREPEND) | hangul))
        return first | ~joins
