"""Byte-level BPE (GPT-2, RoBERTa, ModernBERT) on words, as a vectorised merge loop in graph ops.

A word's symbols start as its UTF-8 bytes (each byte has a vocabulary token, written with GPT-2's
bytes-to-unicode alphabet). Each `tf.while_loop` step applies, in every word of the batch at once, the
word's best-ranked merge to all its non-overlapping occurrences from left to right, which is what
GPT-2's `bpe()` and Hugging Face's BPE do; words with nothing left to merge leave the loop. A pair
(a, b) is one int64 hash lookup of `a * V + b`, whose value packs `rank << 32 | merged id`.

Words are deduplicated per batch, and every vocabulary token, encoded once by the same loop when the
tokenizer is built, answers the words it spells without looping (most frequent words are tokens).
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from bertkit.core.errors import BertkitError
from bertkit.tokenization.base import eager_constant, static_table

NO_MERGE = np.iinfo(np.int64).max


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _unicode(word: bytes) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in word)


def token_bytes(token: str) -> bytes | None:
    """The bytes a byte-level token stands for, or None for a token outside the alphabet (`<s>`)."""
    back = {c: b for b, c in bytes_to_unicode().items()}
    try:
        return bytes(back[c] for c in token)
    except KeyError:
        return None


class ByteLevelBPE:
    """Words (UTF-8 byte strings `[W]`) -> ids `[W, (pieces)]` with a byte-level vocabulary and merges."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], source: str, cache: bool = True,
                 ignore_merges: bool = False):
        self.size = max(vocab.values()) + 1
        table = bytes_to_unicode()
        missing = [f"0x{b:02X}" for b in range(256) if table[b] not in vocab]
        if missing:
            raise BertkitError(f"{source}: not a byte-level BPE vocabulary: no token for bytes {missing[:8]}.")
        self._byte_ids = eager_constant([vocab[table[b]] for b in range(256)], tf.int64)  # [256]
        keys, values = [], []
        for rank, (a, b) in enumerate(merges):
            if a in vocab and b in vocab and a + b in vocab:
                keys.append(vocab[a] * self.size + vocab[b])
                values.append(rank << 32 | vocab[a + b])
        self._merges = static_table(keys or [-1], values or [0], -1, tf.int64, tf.int64)
        self._cache = None
        if cache or ignore_merges:
            words = sorted({w for w in map(token_bytes, vocab) if w})
            with tf.init_scope():
                encoded = self.encode_unique(tf.constant(words, tf.string))  # the loop itself, once
                if ignore_merges:  # a word that is a token is that token, whatever the merges say
                    encoded = tf.RaggedTensor.from_row_lengths(
                        tf.constant([vocab[_unicode(w)] for w in words], tf.int64), tf.ones([len(words)], tf.int64))
                self._cached = (encoded.flat_values, encoded.row_splits)
            self._cache = static_table(words, list(range(len(words))), -1, tf.string, tf.int64)

    def resources(self) -> list:
        return [self._merges] + ([self._cache] if self._cache is not None else [])

    def __call__(self, words: tf.Tensor) -> tf.RaggedTensor:
        """Byte strings `[W]` -> int64 ids `[W, (pieces)]`."""
        unique, index = tf.unique(words)
        if self._cache is None:
            return tf.gather(self.encode_unique(unique), index)
        row = self._cache.lookup(unique)  # [U] cached row, -1 if not a token
        hit = row >= 0
        cached = tf.RaggedTensor.from_row_splits(*self._cached, validate=False)
        parts = tf.concat([tf.gather(cached, tf.boolean_mask(row, hit)),
                           self.encode_unique(tf.boolean_mask(unique, ~hit))], axis=0)
        order = tf.concat([tf.where(hit)[:, 0], tf.where(~hit)[:, 0]], axis=0)  # parts row -> unique row
        return tf.gather(tf.gather(parts, tf.math.invert_permutation(order)), index)

    def encode_unique(self, words: tf.Tensor) -> tf.RaggedTensor:
        """Byte strings `[U]` -> int64 ids `[U, (pieces)]`, through the merge loop."""
        pieces = tf.strings.bytes_split(words)  # [U, (bytes)]
        raw = tf.reshape(tf.io.decode_raw(pieces.flat_values, tf.uint8), [-1])  # [N] one byte each
        ids = tf.gather(self._byte_ids, tf.cast(raw, tf.int32))  # [N]
        word = tf.cast(pieces.value_rowids(), tf.int64)  # [N]
        return self._merge(ids, word, tf.size(words, out_type=tf.int64))

    def _merge(self, ids, word, n_words) -> tf.RaggedTensor:
        """The merge loop over symbols `ids` `[N]` of words `word` `[N]` (sorted)."""
        empty = tf.zeros([0], tf.int64)

        def array():
            return tf.TensorArray(tf.int64, size=0, dynamic_size=True, infer_shape=False).write(0, empty)

        def body(ids, word, done_ids, done_word, k):
            ids, word, finished = self._merge_step(ids, word, n_words)
            done_ids = done_ids.write(k, tf.boolean_mask(ids, finished))
            done_word = done_word.write(k, tf.boolean_mask(word, finished))
            return tf.boolean_mask(ids, ~finished), tf.boolean_mask(word, ~finished), done_ids, done_word, k + 1

        ids, word, done_ids, done_word, _ = tf.while_loop(
            lambda ids, *_: tf.size(ids) > 0, body, (ids, word, array(), array(), tf.constant(1)),
            shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None]), None, None, tf.TensorShape([])))
        all_ids, all_word = tf.reshape(done_ids.concat(), [-1]), tf.reshape(done_word.concat(), [-1])
        order = tf.argsort(all_word, stable=True)
        return tf.RaggedTensor.from_value_rowids(tf.gather(all_ids, order), tf.gather(all_word, order), nrows=n_words)

    def _merge_step(self, ids, word, n_words):
        """One round: every word's best pair, all its occurrences left to right. Returns the new symbols,
        their words and which words are finished (had no pair to merge)."""
        a, b = ids[:-1], ids[1:]  # [N - 1] neighbouring symbols
        same = tf.equal(word[:-1], word[1:])
        value = self._merges.lookup(a * self.size + b)
        valid = same & (value >= 0)
        rank = tf.where(valid, tf.bitwise.right_shift(value, 32), NO_MERGE)
        best = tf.math.unsorted_segment_min(rank, word[:-1], n_words)  # [W]
        candidate = valid & tf.equal(rank, tf.gather(best, word[:-1]))  # [N - 1]
        # Runs of candidates only happen for pairs (x, x); keep every other one, from the run's start.
        run_start = candidate & ~tf.concat([[False], candidate[:-1]], 0)
        position = tf.range(tf.size(candidate, out_type=tf.int64))
        starts = tf.boolean_mask(position, run_start)
        run = tf.maximum(tf.cumsum(tf.cast(run_start, tf.int64)) - 1, 0)
        chosen = candidate & tf.equal((position - tf.gather(tf.concat([starts, [0]], 0), run)) % 2, 0)
        merged = tf.concat([tf.where(chosen, tf.bitwise.bitwise_and(value, 0xFFFFFFFF), a), ids[-1:]], 0)
        keep = ~tf.concat([[False], chosen], 0)  # the right symbol of a merged pair goes
        active = tf.math.unsorted_segment_max(tf.cast(candidate, tf.int32), word[:-1], n_words) > 0  # [W]
        new_word = tf.boolean_mask(word, keep)
        return tf.boolean_mask(merged, keep), new_word, ~tf.gather(active, new_word)
