"""Builds a `tensorflow_text.FastBertNormalizer` model from any per-character mapping.

The stock normalizer model is built from ICU's NFKC_Casefold, which is not what Google's BERT does
(it rewrites `…` to `...`, keeps control characters as spaces, ...). Its C++ kernel is generic,
though: it looks every code point up in a darts-clone double-array trie (keyed by the code point's
UTF-8 bytes) and, when found, replaces it with a string from a pool. So we build that trie here, in
plain Python, from a mapping computed with Python's own `str.lower` / `unicodedata` - exactly the
functions the official tokenizer calls - and get the official normalization at the kernel's speed.

Formats (tensorflow_text/core/kernels): `fast_bert_normalizer_model.fbs` (the flatbuffer),
`darts_clone_trie_wrapper.h` (how a trie unit is read) and `fast_bert_normalizer.h` (the value
encoding).
"""

from __future__ import annotations

import flatbuffers
import numpy as np

# Value encoding of fast_bert_normalizer.h: bit 30 says "the character changes", bits 6..29 hold
# the offset of the replacement in the string pool, bits 0..5 its UTF-8 length (0 = delete).
_CHANGED = 0x40000000
_LENGTH_BITS = 6
_MAX_LENGTH = (1 << _LENGTH_BITS) - 1
_MAX_OFFSET = (1 << (32 - 2 - _LENGTH_BITS)) - 1

# Darts-clone unit layout (darts_clone_trie_wrapper.h): bits 0..7 label, bit 8 "has a leaf
# child", bits 10..31 the offset to the children (bit 9 = offset stored << 8, unused here since
# the trie stays below 2**21 units); a leaf unit holds its value with bit 31 set, which also makes
# its label invalid so no traversal can stop on it by mistake.
_HAS_LEAF = 1 << 8
_LEAF = 1 << 31
_MAX_UNITS = 1 << 21


def encode_values(mapping: dict[str, str]) -> tuple[dict[bytes, int], bytes]:
    """Code point -> replacement becomes UTF-8 key -> encoded value, plus the string pool.

    Returns:
        `(values, pool)`: `values[key]` for every key except NUL (stored outside the trie).
    """
    pool = bytearray()
    offsets: dict[bytes, int] = {}
    values = {}
    for char, replacement in mapping.items():
        data = replacement.encode("utf-8")
        if len(data) > _MAX_LENGTH:
            raise ValueError(f"replacement for U+{ord(char):04X} is longer than {_MAX_LENGTH} bytes")
        value = _CHANGED | len(data)
        if data:
            if data not in offsets:
                offsets[data] = len(pool)
                pool += data
            if offsets[data] > _MAX_OFFSET:
                raise ValueError("normalizer string pool is too large")
            value |= offsets[data] << _LENGTH_BITS
        values[char.encode("utf-8")] = value
    return values, bytes(pool)


def build_trie(values: dict[bytes, int]) -> np.ndarray:
    """A darts-clone double array (uint32 units) for keys that are never prefixes of each other.

    Node `n` at position `p` gets a "base" `b = p ^ offset`; its child with label `c` sits at
    `b ^ c` and its leaf (the value) at `b ^ 0`. Bases are unique, so a unit's position and label
    identify its parent: a traversal that follows a missing edge always lands on a unit whose
    label differs (or on a leaf / empty unit, whose label never equals a byte).
    """
    # A trie of nested dicts; a key's last node holds its value under the (non-byte) key -1.
    root: dict = {}
    for key, value in values.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value

    slots = _Slots()
    units: dict[int, int] = {}  # position -> unit; sparse while building
    queue = [(root, 0)]
    for node, pos in queue:  # breadth first; `queue` grows while we iterate
        labels = sorted(0 if label == -1 else label for label in node)
        base = slots.take(labels)
        unit = units.get(pos, 0) | (pos ^ base) << 10
        for label, child in node.items():
            if label == -1:
                unit |= _HAS_LEAF
                units[base] = _LEAF | child
            else:
                units[base ^ label] = label
                queue.append((child, base ^ label))
        units[pos] = unit
    size = max(units) + 1
    if size > _MAX_UNITS:
        raise ValueError("normalizer trie is too large")
    array = np.zeros(size, dtype=np.uint32)
    array[list(units)] = list(units.values())
    return array


class _Slots:
    """Free-slot bookkeeping of the double array: finds a fresh base whose child slots are free."""

    def __init__(self):
        self.used = bytearray(1 << 16)
        self.used[0] = 1  # the root
        self.bases: set[int] = set()
        self.first_single = 1  # below it every slot is used or is some node's base
        self.free = [256] * (len(self.used) >> 8)  # free slots per 256-slot block
        self.free[0] -= 1

    def take(self, labels: list[int]) -> int:
        """Returns a new base for a node with these child labels and marks their slots used."""
        base = self._take_single(labels[0]) if len(labels) == 1 else self._take_block(labels)
        self.bases.add(base)
        for label in labels:
            self.used[base ^ label] = 1
        self.free[base >> 8] -= len(labels)
        return base

    def _take_single(self, label: int) -> int:
        pos = self.first_single
        while self._is_used(pos) or (pos ^ label) in self.bases:
            pos += 1
        if label == 0:  # leaves (nearly every single-label node) fill slots left to right
            self.first_single = pos
        return pos ^ label

    def _take_block(self, labels: list[int]) -> int:
        """Scans 256-slot blocks: with `b = block + x`, child `c` lands at `block + (x ^ c)`."""
        xor = np.arange(256)[:, None] ^ np.array(labels)[None, :]  # [256 candidates, labels]
        block = self.first_single & ~0xFF  # the blocks before it are (nearly) full
        while True:
            self._is_used(block + 255)  # grows `used` to cover the block
            if self.free[block >> 8] < len(labels):
                block += 256
                continue
            free = np.frombuffer(self.used, dtype=np.uint8, count=256, offset=block) == 0
            for x in np.flatnonzero(free[xor].all(axis=1)):
                if block + int(x) not in self.bases:
                    return block + int(x)
            block += 256

    def _is_used(self, pos: int) -> bool:
        if pos >= len(self.used):
            grow = max(pos + 1, 2 * len(self.used)) - len(self.used)
            self.used.extend(bytes(grow))
            self.free.extend([256] * (grow >> 8))
        return bool(self.used[pos])


def build_model(mapping: dict[str, str]) -> bytes:
    """The `FastBertNormalizerModel` flatbuffer that replaces each `char` by `mapping[char]`.

    Args:
        mapping: single characters to their replacement ("" deletes the character). Characters not
            in it are copied unchanged.

    Returns:
        The serialized model, for `FastBertNormalizer(model_buffer=...)`.
    """
    values, pool = encode_values(mapping)
    zero = values.pop(b"\x00", 0)  # darts-clone cannot store the empty key that NUL would need
    trie = build_trie(values)
    builder = flatbuffers.Builder(len(trie) * 4 + len(pool) + 1024)
    trie_vec = builder.CreateNumpyVector(trie)
    pool_vec = builder.CreateNumpyVector(np.frombuffer(pool or b"\x00", dtype=np.uint8))
    # Table FastBertNormalizerModel: 0 lower_case_nfd_strip_accents (unused by the kernel),
    # 1 trie_array, 2 data_for_codepoint_zero, 3 normalized_string_pool.
    builder.StartObject(4)
    builder.PrependUOffsetTRelativeSlot(3, pool_vec, 0)
    builder.PrependInt32Slot(2, zero, 0)
    builder.PrependUOffsetTRelativeSlot(1, trie_vec, 0)
    builder.PrependBoolSlot(0, False, False)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


def lookup(trie: np.ndarray, key: bytes) -> int | None:
    """Reads `key` back the way the C++ kernel does (used by tests)."""
    pos, unit = 0, int(trie[0])
    for byte in key:
        pos ^= (unit >> 10) ^ byte
        if pos >= len(trie):
            return None
        unit = int(trie[pos])
        if unit & 0x800000FF != byte:
            return None
    if not unit & _HAS_LEAF:
        return None
    return int(trie[pos ^ (unit >> 10)]) & 0x7FFFFFFF
