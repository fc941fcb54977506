"""Per-code-point tables as graph ops: a class for every code point, or a replacement for some.

Both store a value per code point in two levels (blocks of 256 code points, identical blocks kept once),
so a table over all 1.1M code points is a few kilobytes of graph constant and one lookup is two gathers.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bertkit.tokenization.base import eager_constant

SIZE = 0x110000
BLOCK = 256


class ClassTable:
    """An int32 value for every code point (`values[cp]`), looked up in the graph."""

    def __init__(self, values: np.ndarray):
        blocks = np.ascontiguousarray(np.asarray(values, np.int32).reshape(-1, BLOCK))  # [4352, 256]
        seen: dict[bytes, int] = {}
        index = np.array([seen.setdefault(block.tobytes(), len(seen)) for block in blocks], np.int32)
        unique = blocks[np.unique(index, return_index=True)[1]]  # the first block of each kind, in index order
        self._blocks = eager_constant(unique.reshape(-1))  # [U * 256]
        self._index = eager_constant(index * BLOCK)  # [4352] start of each block

    def __call__(self, code_points: tf.Tensor) -> tf.Tensor:
        """int32 code points (any shape; out of range counts as U+FFFD's neighbour 0) -> their values."""
        cps = tf.clip_by_value(tf.cast(code_points, tf.int32), 0, SIZE - 1)
        return tf.gather(self._blocks, tf.gather(self._index, cps // BLOCK) + cps % BLOCK)


class CodePointMap:
    """Replaces some code points by sequences of code points ("" deletes); the others stay."""

    def __init__(self, mapping: dict[int, tuple[int, ...]]):
        rows = sorted(set(mapping.values()))
        row_of = {row: i for i, row in enumerate(rows)}
        values = np.zeros(SIZE, np.int32)  # row + 1, 0 = unchanged
        for cp, row in mapping.items():
            values[cp] = row_of[row] + 1
        self._rows = ClassTable(values)
        lengths = np.array([len(r) for r in rows] or [0], np.int64)
        self._row_lengths = eager_constant(lengths)  # [R]
        self._row_starts = eager_constant(np.concatenate([[0], np.cumsum(lengths)[:-1]]))  # [R]
        self._row_values = eager_constant(np.array([cp for r in rows for cp in r] or [0], np.int32))

    def __call__(self, cps: tf.RaggedTensor) -> tf.RaggedTensor:
        """int32 code points `[B, (C)]` -> `[B, (C')]`."""
        flat = cps.flat_values  # [C]
        row = self._rows(flat) - 1  # [C], -1 unchanged
        changed = row >= 0
        safe = tf.maximum(row, 0)
        lengths = tf.where(changed, tf.gather(self._row_lengths, safe), 1)  # [C] output length per character
        starts = tf.gather(self._row_starts, safe)  # [C]
        # Output position k of character i reads row value starts[i] + k, or the character itself.
        char_of = tf.repeat(tf.range(tf.size(flat, out_type=tf.int64)), lengths)  # [C']
        k = tf.range(tf.size(char_of, out_type=tf.int64)) - tf.gather(tf.cumsum(lengths, exclusive=True), char_of)
        mapped = tf.gather(self._row_values, tf.gather(starts, char_of) + k)
        values = tf.where(tf.gather(changed, char_of), mapped, tf.gather(flat, char_of))  # [C']
        per_row = tf.math.unsorted_segment_sum(lengths, cps.value_rowids(), cps.nrows())  # [B]
        return tf.RaggedTensor.from_row_lengths(values, per_row, validate=False)

def compose(*mappings: dict[int, tuple[int, ...]]) -> dict[int, tuple[int, ...]]:
    """The per-character mapping of applying `mappings` one after the other."""
    out: dict[int, tuple[int, ...]] = {}
    for m in mappings:
        # Characters already mapped: map what they became; characters first changed here: as `m` says.
        out = {cp: (seq if not any(c in m for c in seq) else tuple(x for c in seq for x in m.get(c, (c,))))
               for cp, seq in out.items()}
        out.update((cp, seq) for cp, seq in m.items() if cp not in out)
    return {cp: seq for cp, seq in out.items() if seq != (cp,)}


def ranges_mask(ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """bool `[0x110000]`, True on the inclusive ranges."""
    mask = np.zeros(SIZE, bool)
    for first, last in ranges:
        mask[first:last + 1] = True
    return mask
