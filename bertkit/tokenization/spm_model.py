"""SentencePiece `.model` files (a `ModelProto` protobuf), read and written without the sentencepiece package.

Only the fields bertkit needs are decoded (field numbers of `sentencepiece_model.proto`); everything
else is skipped when reading and left at its default when writing:

    ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
    SentencePiece   1 piece (string), 2 score (float), 3 type (NORMAL 1, UNKNOWN 2, CONTROL 3,
                    USER_DEFINED 4, UNUSED 5, BYTE 6)
    TrainerSpec     3 model_type (UNIGRAM 1, BPE 2, WORD 3, CHAR 4), 35 byte_fallback,
                    40-43 unk / bos / eos / pad id
    NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
                    5 escape_whitespaces
"""

from __future__ import annotations

import dataclasses
import struct

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4
MODEL_TYPES = {UNIGRAM: "unigram", BPE: "bpe", WORD: "word", CHAR: "char"}


@dataclasses.dataclass
class SpmModel:
    """What bertkit reads from a SentencePiece model (proto2 defaults where a field is absent)."""

    pieces: list[str]
    scores: list[float]
    types: list[int]
    model_type: int = UNIGRAM
    byte_fallback: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    normalizer_name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True

    def id_of(self, piece: str) -> int | None:
        """The id of `piece`, or None if the vocabulary lacks it."""
        if not hasattr(self, "_index"):
            self._index = {p: i for i, p in enumerate(self.pieces)}
        return self._index.get(piece)


class ProtoError(ValueError):
    """The bytes are not a valid protobuf message of the expected shape."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtoError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes):
    """Yields `(field number, value)`: int for varints, bytes for length-delimited, float for fixed32."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtoError("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            if pos + 4 > len(data):
                raise ProtoError("truncated fixed32")
            value, pos = struct.unpack_from("<f", data, pos)[0], pos + 4
        elif wire == 1:
            pos += 8
            value = None
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        yield number, value


def _signed(value: int) -> int:
    """An int32 field read as a varint (negative values are 10-byte two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def parse(data: bytes) -> SpmModel:
    """Decodes a serialized `ModelProto`.

    Raises:
        ProtoError: the bytes are not one, or the model has no pieces.
    """
    model = SpmModel([], [], [])
    for number, value in fields(data):
        if number == 1:
            piece, score, kind = "", 0.0, NORMAL
            for n, v in fields(value):
                if n == 1:
                    piece = v.decode("utf-8")
                elif n == 2:
                    score = v
                elif n == 3:
                    kind = v
            model.pieces.append(piece)
            model.scores.append(score)
            model.types.append(kind)
        elif number == 2:
            _read_trainer_spec(model, value)
        elif number == 3:
            _read_normalizer_spec(model, value)
    if not model.pieces:
        raise ProtoError("no pieces")
    return model


def _read_trainer_spec(model: SpmModel, data: bytes) -> None:
    names = {3: "model_type", 35: "byte_fallback", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
    for number, value in fields(data):
        if number in names and isinstance(value, int):
            value = bool(value) if number == 35 else _signed(value)
            setattr(model, names[number], value)


def _read_normalizer_spec(model: SpmModel, data: bytes) -> None:
    for number, value in fields(data):
        if number == 1:
            model.normalizer_name = value.decode("utf-8")
        elif number == 2:
            model.precompiled_charsmap = bytes(value)
        elif number in (3, 4, 5):
            setattr(model, {3: "add_dummy_prefix", 4: "remove_extra_whitespaces", 5: "escape_whitespaces"}[number],
                    bool(value))


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return bytes((value,))
    value &= (1 << 64) - 1  # negative int32: ten bytes of two's complement, as protobuf writes them
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _encode_varint(len(data)) + data


def _int_field(number: int, value: int) -> bytes:
    return _key(number, 0) + _encode_varint(value)


def serialize(model: SpmModel) -> bytes:
    """Encodes `model` as a `ModelProto` that sentencepiece and tensorflow-text read."""
    out = bytearray()
    score_key, type_key = _key(2, 5), _key(3, 0)
    for piece, score, kind in zip(model.pieces, model.scores, model.types):
        text = piece.encode("utf-8")
        body = (b"\x0a" + _encode_varint(len(text)) + text + score_key + struct.pack("<f", score)
                + type_key + bytes([kind]))
        out += b"\x0a" + _encode_varint(len(body)) + body  # field 1 (pieces), length-delimited
    trainer = _int_field(3, model.model_type) + _int_field(4, len(model.pieces)) + _int_field(35, model.byte_fallback)
    for number, value in ((40, model.unk_id), (41, model.bos_id), (42, model.eos_id), (43, model.pad_id)):
        trainer += _int_field(number, value)
    out += _bytes_field(2, trainer)
    normalizer = _bytes_field(1, model.normalizer_name.encode("utf-8"))
    if model.precompiled_charsmap:
        normalizer += _bytes_field(2, model.precompiled_charsmap)
    normalizer += (_int_field(3, model.add_dummy_prefix) + _int_field(4, model.remove_extra_whitespaces)
                   + _int_field(5, model.escape_whitespaces))
    out += _bytes_field(3, normalizer)
    return bytes(out)
