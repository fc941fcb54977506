"""Hugging Face's Unigram model (`Unigram::encode_optimized`) on words, as graph ops: an f64 Viterbi.

Over the unique words of a batch at once:
1. Edges: for k = 1 .. the longest piece, the k characters starting at every still-live position are
   looked up in a table of every piece and every prefix of a piece (a position drops out when its k
   characters are no prefix); a position with no one-character piece gets an unknown edge of one
   character scored `min score - 10`.
2. Dynamic programme over end positions (a `tf.while_loop`, one step per character of the longest word):
   best[e] = max over edges (s, e) of best[s] + score, in float64 as the reference adds, ties to the
   smallest s (the reference visits starts in order and replaces only on a strictly better score).
3. Backtrack; consecutive unknowns fuse into one (`fuse_unk`), or become byte pieces (`byte_fallback`).

The loop in 2 runs once per character position, so words over `LONG_WORD` characters (pathological input)
go to tensorflow-text's `FastSentencepieceTokenizer` on the same pieces instead, which sums scores in
float32 and may break an exact score tie the other way.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_text as text

from bertkit.tokenization import spm_model
from bertkit.tokenization.base import eager_constant, select_rows, static_table

UNK_PENALTY = 10.0
PREFIX_ONLY, ABSENT = -2, -3
LONG_WORD = 256


class Unigram:
    """Words (strings `[W]`, already pre-tokenized) -> int64 ids `[W, (pieces)]`."""

    def __init__(self, pieces: list[tuple[str, float]], unk_id: int | None, byte_fallback: bool = False):
        self.unk_id = -1 if unk_id is None else unk_id
        scores = np.array([s for _, s in pieces], np.float64)
        self.unk_score = float(scores.min() - UNK_PENALTY)
        table: dict[str, int] = {}
        for i, (piece, _) in enumerate(pieces):
            for k in range(1, len(piece)):
                table.setdefault(piece[:k], PREFIX_ONLY)
            table[piece] = i
        self.longest = max(len(p) for p, _ in pieces)
        self._table = static_table(list(table), list(table.values()), ABSENT, tf.string, tf.int64)
        self._scores = eager_constant(scores)
        index = {p: i for i, (p, _) in enumerate(pieces)}
        self._byte_ids = None
        if byte_fallback and all(f"<0x{b:02X}>" in index for b in range(256)):
            self._byte_ids = eager_constant([index[f"<0x{b:02X}>"] for b in range(256)], tf.int64)
        proto = spm_model.SpmModel([p for p, _ in pieces], [s for _, s in pieces],
                                   [spm_model.UNKNOWN if i == unk_id else spm_model.NORMAL for i in range(len(pieces))],
                                   unk_id=max(self.unk_id, 0), bos_id=-1, eos_id=-1, normalizer_name="identity",
                                   add_dummy_prefix=False, remove_extra_whitespaces=False, escape_whitespaces=False)
        self._long = text.FastSentencepieceTokenizer(spm_model.serialize(proto))

    def resources(self) -> list:
        return [self._table]

    def __call__(self, words: tf.Tensor) -> tf.RaggedTensor:
        unique, index = tf.unique(words)
        long = tf.strings.length(unique, unit="UTF8_CHAR") > LONG_WORD
        short_ids = self.viterbi(tf.boolean_mask(unique, ~long))
        long_ids = tf.cast(self._long.tokenize(tf.boolean_mask(unique, long)), tf.int64)
        parts = tf.concat([short_ids, long_ids.with_row_splits_dtype(tf.int64)], axis=0)
        order = tf.concat([tf.where(~long)[:, 0], tf.where(long)[:, 0]], axis=0)
        return tf.gather(tf.gather(parts, tf.math.invert_permutation(order)), index)

    def viterbi(self, words: tf.Tensor) -> tf.RaggedTensor:
        """Unique words `[U]` -> ids `[U, (pieces)]` (see the module docstring)."""
        cps = tf.strings.unicode_decode(words, "UTF-8", errors="replace").with_row_splits_dtype(tf.int64)
        lengths = cps.row_lengths()  # [U]
        node0 = tf.concat([[0], tf.cumsum(lengths + 1)], 0)[:-1]  # [U] each word's node 0 (L + 1 nodes)
        edges = self._edges(cps)
        best, back, piece = self._forward(edges, node0, lengths)
        return self._backtrack(cps, node0, lengths, back, piece)

    def _edges(self, cps):
        """Every piece occurrence `(start, length, id, score)` over all positions `[E]`."""
        c = cps.flat_values
        n = tf.size(c, out_type=tf.int64)
        position = tf.range(n) - tf.gather(cps.row_starts(), cps.value_rowids())  # [N] in its word
        left = tf.gather(cps.row_lengths(), cps.value_rowids()) - position  # [N] characters from here on
        live, starts, sizes, ids = tf.range(n), [], [], []
        single = tf.zeros([n], tf.bool)
        for k in range(1, self.longest + 1):
            live = tf.boolean_mask(live, tf.gather(left, live) >= k)
            found = self._table.lookup(tf.strings.unicode_encode(
                tf.gather(c, live[:, None] + tf.range(k, dtype=tf.int64)), "UTF-8"))  # [live]
            hit = found >= 0
            starts.append(tf.boolean_mask(live, hit))
            sizes.append(tf.fill([tf.reduce_sum(tf.cast(hit, tf.int64))], tf.constant(k, tf.int64)))
            ids.append(tf.boolean_mask(found, hit))
            if k == 1:
                single = tf.scatter_nd(tf.boolean_mask(live, hit)[:, None], tf.ones_like(ids[0], tf.bool), [n])
            live = tf.boolean_mask(live, found >= PREFIX_ONLY)
        unknown = tf.where(~single)[:, 0]
        start = tf.concat(starts + [unknown], 0)
        size = tf.concat(sizes + [tf.ones_like(unknown)], 0)
        piece = tf.concat(ids + [tf.fill(tf.shape(unknown), tf.constant(self.unk_id, tf.int64))], 0)
        is_unknown = tf.range(tf.size(start)) >= tf.size(start) - tf.size(unknown)
        score = tf.where(is_unknown, tf.constant(self.unk_score, tf.float64),
                         tf.gather(self._scores, tf.maximum(piece, 0)))
        return {"node": tf.gather(tf.range(n) + cps.value_rowids(), start),  # start node (word offset + position)
                "position": tf.gather(position, start), "size": size, "piece": piece, "score": score}

    def _forward(self, edges, node0, lengths):
        """best path score, back pointer and last piece of every node."""
        end = edges["position"] + edges["size"]  # [E] end position within the word
        order = tf.argsort(end, stable=True)
        e = {k: tf.gather(v, order) for k, v in edges.items()}
        end = tf.gather(end, order)
        target = e["node"] + e["size"]
        longest = tf.reduce_max(tf.concat([lengths, [0]], 0))
        bounds = tf.searchsorted(end, tf.range(longest + 2), side="left")  # edges ending at each position
        n_nodes = tf.reduce_sum(lengths + 1)
        best = tf.tensor_scatter_nd_update(tf.fill([n_nodes], tf.constant(-np.inf, tf.float64)), node0[:, None],
                                           tf.zeros(tf.shape(node0), tf.float64))
        back = tf.fill([n_nodes], tf.constant(-1, tf.int64))
        piece = tf.fill([n_nodes], tf.constant(-1, tf.int64))

        def step(k, best, back, piece):
            a, b = bounds[k], bounds[k + 1]
            source, to = e["node"][a:b], target[a:b]
            candidate = tf.gather(best, source) + e["score"][a:b]  # [edges ending at position k]
            nodes, slot = tf.unique(to)
            top = tf.math.unsorted_segment_max(candidate, slot, tf.size(nodes))
            is_top = tf.equal(candidate, tf.gather(top, slot)) & tf.math.is_finite(candidate)
            first = tf.math.unsorted_segment_min(tf.where(is_top, e["position"][a:b], np.iinfo(np.int64).max),
                                                 slot, tf.size(nodes))
            chosen = is_top & tf.equal(e["position"][a:b], tf.gather(first, slot))
            at = nodes[:, None]
            return (k + 1, tf.tensor_scatter_nd_update(best, at, top),
                    tf.tensor_scatter_nd_update(back, at, tf.math.unsorted_segment_max(
                        tf.where(chosen, source, -1), slot, tf.size(nodes))),
                    tf.tensor_scatter_nd_update(piece, at, tf.math.unsorted_segment_max(
                        tf.where(chosen, e["piece"][a:b], -1), slot, tf.size(nodes))))

        _, best, back, piece = tf.while_loop(lambda k, *_: k <= longest, step,
                                             (tf.constant(1, tf.int64), best, back, piece))
        return best, back, piece

    def _backtrack(self, cps, node0, lengths, back, piece):
        """Pieces from each word's last node back to its first, then in reading order."""
        n_words = tf.size(lengths, out_type=tf.int64)
        empty = tf.zeros([0], tf.int64)

        def array():
            return tf.TensorArray(tf.int64, size=0, dynamic_size=True, infer_shape=False).write(0, empty)

        def step(node, ids, words, ends, k):
            live = tf.not_equal(node, node0)
            at = tf.boolean_mask(node, live)
            return (tf.where(live, tf.gather(back, tf.maximum(node, 0)), node), ids.write(k, tf.gather(piece, at)),
                    words.write(k, tf.boolean_mask(tf.range(n_words), live)), ends.write(k, at), k + 1)

        _, ids, words, ends, _ = tf.while_loop(lambda node, *_: tf.reduce_any(tf.not_equal(node, node0)), step,
                                               (node0 + lengths, array(), array(), array(), tf.constant(1)))
        ids, words, ends = (tf.reshape(a.concat(), [-1]) for a in (ids, words, ends))  # [P] (shape known)
        step_index = tf.range(tf.size(words, out_type=tf.int64))
        order = tf.argsort(words * (tf.size(words, out_type=tf.int64) + 1) - step_index, stable=True)
        ids, words, ends = tf.gather(ids, order), tf.gather(words, order), tf.gather(ends, order)  # reading order
        unknown = tf.equal(ids, self.unk_id)
        if self._byte_ids is not None:  # each unknown piece is one character: its UTF-8 bytes' pieces
            chars = tf.gather(cps.flat_values, ends - words - 1)  # [P] the character before the end node
            spelled = tf.strings.bytes_split(tf.strings.unicode_encode(chars[:, None], "UTF-8"))  # [P, (b)]
            raw = tf.cast(tf.reshape(tf.io.decode_raw(spelled.flat_values, tf.uint8), [-1]), tf.int32)
            byte_pieces = spelled.with_flat_values(tf.gather(self._byte_ids, raw))
            single = tf.RaggedTensor.from_row_lengths(ids, tf.ones_like(ids))
            per_piece = select_rows(unknown, byte_pieces, single)
            return tf.RaggedTensor.from_value_rowids(per_piece, words, nrows=n_words).merge_dims(1, 2)
        repeat = unknown & tf.concat([[False], unknown[:-1] & tf.equal(words[1:], words[:-1])], 0)  # fuse_unk
        return tf.RaggedTensor.from_value_rowids(tf.boolean_mask(ids, ~repeat), tf.boolean_mask(words, ~repeat),
                                                 nrows=n_words)
