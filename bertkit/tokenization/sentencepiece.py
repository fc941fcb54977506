"""SentencePiece `.model` files (ALBERT's spiece.model, DeBERTa-v3's spm.model, ...), exactly as the
`sentencepiece` package encodes them, in tensorflow-text ops.

* Unigram models: `FastSentencepieceTokenizer`, whose Viterbi breaks score ties as sentencepiece does
  (the older sentencepiece inside `SentencepieceTokenizer` breaks some the other way).
* BPE models: `SentencepieceTokenizer`, which wraps the sentencepiece library (`FastSentencepieceTokenizer`
  runs a unigram search over BPE scores: wrong for BPE).
* Unigram models with `byte_fallback` are refused: the fast op emits `<unk>` where sentencepiece emits
  byte pieces and gives no offsets to recover the bytes, and the slow op differs on ties.

Ids are sentencepiece's own (no fairseq offset: XLM-R's Hugging Face ids come from its tokenizer.json).
The packing follows the pieces: `[CLS] a [SEP] b [SEP]` when the model has `[CLS]` and `[SEP]` pieces
(ALBERT, DeBERTa-v3), else `<s> a </s></s> b </s>` with its bos / eos pieces.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
import tensorflow_text as text

from bertkit.core.errors import BertkitError
from bertkit.tokenization import charsmap, spans, spm_model
from bertkit.tokenization.base import Template, TokenizerBase, eager_constant, static_table

SPACE = "\u2581"  # how SentencePiece writes a space inside pieces


class SentencePiece(TokenizerBase):
    """A SentencePiece `.model` in the graph.

    Attributes:
        model_file: the `.model` file.
        model: its decoded contents (`spm_model.SpmModel`).
    """

    kind = "sentencepiece"

    def __init__(self, model_file, template: Template | None = None):
        self.model_file = Path(model_file)
        data, self.model = read_model(self.model_file)
        m = self.model
        if m.model_type not in (spm_model.UNIGRAM, spm_model.BPE):
            raise BertkitError(f"{self.model_file}: a SentencePiece {spm_model.MODEL_TYPES.get(m.model_type)} model; "
                               "bertkit reads unigram and BPE models.")
        if m.model_type == spm_model.UNIGRAM and m.byte_fallback:
            raise BertkitError(f"{self.model_file}: a unigram model with byte_fallback, which tensorflow-text cannot "
                               "tokenize exactly (its fast op gives <unk> for the bytes); use the model's "
                               "tokenizer.json if it has one.")
        self.vocab = list(m.pieces)
        self.unk_id = m.unk_id if 0 <= m.unk_id < len(self.vocab) else None
        self.template = template or default_template(m, self.model_file)
        self.pad_id = self.template.pad
        self.mask_id = next((m.id_of(t) for t in ("[MASK]", "<mask>") if m.id_of(t) is not None), None)
        self.do_lower_case = m.normalizer_name.endswith("_cf")  # nmt_nfkc_cf, nfkc_cf: case folding
        if m.model_type == spm_model.UNIGRAM:
            self._op = text.FastSentencepieceTokenizer(data)
        else:
            self._op = text.SentencepieceTokenizer(data, out_type=tf.int32)
        self._spelling, self._unknown = _spelling(m)
        self._char_table = None  # built by `piece_spans` (decoding the charsmap takes a second or two)

    def encode(self, texts: tf.Tensor) -> tf.RaggedTensor:
        ids = self._op.tokenize(texts)  # [B, (pieces)]
        return tf.RaggedTensor.from_row_splits(tf.cast(ids.flat_values, tf.int32),
                                               tf.cast(ids.row_splits, tf.int64), validate=False)

    def piece_spans(self, chars, pieces):
        one = tf.strings.unicode_encode(chars.flat_values[:, None], "UTF-8")  # [C] one character each
        if self._char_table is None and self.model.precompiled_charsmap:
            # One character's normalization (the charsmap's one-character keys). Values carry a leading
            # "=" so that "not in the table" ("") differs from "deleted" ("=").
            table = charsmap.decode(self.model.precompiled_charsmap, str(self.model_file))
            single = {ord(k): "=" + v for k, v in table.items() if len(k) == 1} or {-1: ""}
            self._char_table = static_table(list(single), list(single.values()), "", tf.int64, tf.string)
        if self._char_table is not None:
            found = self._char_table.lookup(tf.cast(chars.flat_values, tf.int64))  # [C] "=" + replacement, or ""
            one = tf.where(found != "", tf.strings.regex_replace(found, "^=", ""), one)
        if self.model.remove_extra_whitespaces:  # a space at either end of the word or after a space goes
            space = tf.equal(one, " ")  # [C]
            position = tf.ragged.range(chars.row_lengths()).flat_values
            last = position == tf.gather(chars.row_lengths(), chars.value_rowids()) - 1
            after_space = tf.concat([[False], space[:-1]], 0) & (position > 0)
            one = tf.where(space & ((position == 0) | last | after_space), "", one)
        prefix = " " if self.model.add_dummy_prefix else ""
        return spans.aligned_spans(chars, one, pieces, self._spelling, self._unknown, prefix, end_at="next")

    def files(self) -> dict[str, Path]:
        return {self.model_file.name: self.model_file}

    def config(self) -> dict:
        return {"kind": self.kind, "model": self.model_file.name, "template": self.template.to_dict()}

    @classmethod
    def from_config(cls, config: dict, folder: Path) -> SentencePiece:
        return cls(folder / config["model"], Template.from_dict(config["template"]))

    def resources(self) -> list:
        # SentencepieceTokenizer (BPE) holds its model as a resource; the fast op's model is a constant.
        return [self._op] + ([self._char_table] if self._char_table is not None else [])


def read_model(path: Path) -> tuple[bytes, spm_model.SpmModel]:
    """The bytes and contents of a `.model` file, or a BertkitError naming it."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise BertkitError(f"{path}: cannot read the SentencePiece model ({e.strerror}).") from None
    try:
        return data, spm_model.parse(data)
    except (spm_model.ProtoError, UnicodeDecodeError) as e:
        raise BertkitError(f"{path}: not a SentencePiece model ({e}); the file is damaged or not a .model, "
                           "copy it again from the model's files.") from None


def default_template(m: spm_model.SpmModel, source: Path) -> Template:
    """BERT packing with `[CLS]` / `[SEP]` pieces, else RoBERTa packing with the bos / eos pieces."""
    pad = next((i for i in (m.id_of("<pad>"), m.id_of("[PAD]"), m.pad_id if m.pad_id >= 0 else None)
                if i is not None), 0)
    if m.id_of("[CLS]") is not None and m.id_of("[SEP]") is not None:
        return Template.bert(m.id_of("[CLS]"), m.id_of("[SEP]"), pad)
    if 0 <= m.bos_id < len(m.pieces) and 0 <= m.eos_id < len(m.pieces):
        return Template.roberta(m.bos_id, m.eos_id, pad)
    raise BertkitError(f"{source}: cannot tell how to pack a pair: the model has neither [CLS] / [SEP] pieces "
                       "nor bos / eos ids.")


def _spelling(m: spm_model.SpmModel) -> tuple[tf.Tensor, tf.Tensor]:
    """What each piece stands for ("▁" is a space, `<0x41>` the byte 0x41) and which stand for nothing."""
    spelling, unknown = [], []
    for piece, kind in zip(m.pieces, m.types):
        if kind == spm_model.BYTE:
            spelling.append(bytes([int(piece[3:5], 16)]))
        elif kind in (spm_model.NORMAL, spm_model.USER_DEFINED):
            spelling.append(piece.replace(SPACE, " ").encode("utf-8"))
        else:
            spelling.append(b"")
        unknown.append(kind == spm_model.UNKNOWN)
    return eager_constant(spelling, tf.string), eager_constant(unknown, tf.bool)
