"""SentencePiece's `precompiled_charsmap`: the normalization table of its `.model` files (nmt_nfkc, ...)
and of Hugging Face's `Precompiled` normalizer, decoded into `{key: replacement}`.

Layout (sentencepiece `normalizer.cc`): a little-endian uint32 trie size in bytes, a darts-clone double
array of uint32 units over the UTF-8 bytes of the keys, then the replacement strings, NUL-terminated,
which the trie's leaf values point into. A unit holds its label in bits 0-7 (bit 31 too, so a leaf's
label never matches a byte), "has a leaf child" in bit 8, and the offset to its children in bits 10-31
(shifted left by 8 more when bit 9 is set).
"""

from __future__ import annotations

import struct

import numpy as np

from bertkit.core.errors import BertkitError


def decode(blob: bytes, source: str = "precompiled_charsmap") -> dict[str, str]:
    """Every key of the table and its replacement, both as text.

    The trie is walked breadth first, all nodes of a depth at once (numpy), so a 200k-key table of
    nmt_nfkc decodes in well under a second.

    Raises:
        BertkitError: naming `source`, when the bytes are not a charsmap.
    """
    try:
        (trie_size,) = struct.unpack_from("<I", blob, 0)
        units = np.frombuffer(blob, dtype="<u4", count=trie_size // 4, offset=4).astype(np.int64)
        pool = blob[4 + trie_size:]
        keys, starts = _walk(units)
        nul = np.flatnonzero(np.frombuffer(pool, np.uint8) == 0)
        ends = nul[np.searchsorted(nul, starts)]  # each replacement ends at the next NUL
        return {key.decode("utf-8"): pool[a:b].decode("utf-8") for key, a, b in zip(keys, starts, ends)}
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as e:
        raise BertkitError(f"{source}: not a valid SentencePiece precompiled charsmap ({e}).") from None


def _offset(unit):
    return (unit >> 10) << ((unit & (1 << 9)) >> 6)


def _walk(units: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """(key bytes, pool offset) of every key of the double array `units`, breadth first from the root."""
    labels = np.arange(1, 256)
    positions, prefixes = np.array([_offset(units[0])]), [b""]  # the root's base and the empty key
    keys, values = [], []
    single = [bytes([b]) for b in range(256)]
    while len(positions):
        child = positions[:, None] ^ labels[None, :]  # [F, 255] where each byte's child would be
        inside = child < len(units)
        found = inside & ((units[np.where(inside, child, 0)] & 0x800000FF) == labels[None, :])
        node, byte = np.nonzero(found)
        child = child[node, byte]
        base = child ^ _offset(units[child])  # [K] each child's own base
        leaf = (units[child] >> 8) & 1 == 1
        new_prefixes = [prefixes[n] + single[b + 1] for n, b in zip(node.tolist(), byte.tolist())]
        keys += [new_prefixes[i] for i in np.flatnonzero(leaf)]
        values.append(units[base[leaf]] & 0x7FFFFFFF)
        positions, prefixes = base, new_prefixes
    return keys, np.concatenate(values) if values else np.zeros(0, np.int64)
