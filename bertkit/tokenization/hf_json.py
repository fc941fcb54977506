"""A Hugging Face `tokenizer.json` (WordPiece, Unigram or byte-level BPE model), exactly as the `tokenizers`
library encodes it, in graph ops.

    texts [B] -> added tokens split out -> normalizer -> pre-tokenizer -> model, on the unique words

The post-processor becomes the packing `Template`; `add_special_tokens` is never applied by `__call__`
(ids come without special tokens, as the seam requires). Unsupported components raise a BertkitError
naming the component and what is supported.
"""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf
import tensorflow_text as text

from bertkit.core.errors import BertkitError
from bertkit.tokenization import hf_bert_fast, hf_unicode as hu, spans
from bertkit.tokenization.added_tokens import AddedTokens
from bertkit.tokenization.base import TokenizerBase, eager_constant, redo_rows, rows_with, select_rows
from bertkit.tokenization.bpe import ByteLevelBPE, token_bytes
from bertkit.tokenization.codepoints import ClassTable
from bertkit.tokenization.hf_normalizers import Normalizer
from bertkit.tokenization.hf_pretokenizers import PreTokenizer
from bertkit.tokenization.hf_templates import template_from
from bertkit.tokenization.unigram import Unigram

FILE = "tokenizer.json"
MODELS = ("WordPiece", "Unigram", "BPE (with the ByteLevel pre-tokenizer)")


class HFTokenizer(TokenizerBase):
    """A `tokenizer.json` in the graph.

    Attributes:
        path: the file; spec: its parsed JSON; model_type: "WordPiece", "Unigram" or "BPE".
    """

    kind = "tokenizer.json"

    def __init__(self, path, spec: dict | None = None):
        self.path = Path(path)
        self.spec = spec if spec is not None else read_spec(self.path)
        source = str(self.path)
        model = self.spec.get("model") or {}
        self.model_type = model.get("type") or _guess_model_type(model)
        self.normalizer = Normalizer(self.spec.get("normalizer"), source)
        self.pre_tokenizer = PreTokenizer(self.spec.get("pre_tokenizer"), source)
        added = self.spec.get("added_tokens") or []
        by_normalized = [t for t in added if t.get("normalized") and self.normalizer.steps]
        self.added = AddedTokens([t for t in added if t not in by_normalized], source)
        # Tokens matched on normalized text are normalized themselves, as the reference's AddedVocabulary does.
        self.added_normalized = AddedTokens([{**t, "content": self._normalized(t["content"])} for t in by_normalized],
                                            source)
        self.vocab, self._model, self.unk_id = _build_model(model, self.model_type, self.pre_tokenizer, source)
        ids = {**{t: i for i, t in enumerate(self.vocab)}, **{t["content"]: t["id"] for t in added}}
        self.template = template_from(self.spec.get("post_processor"), ids, self._pad(ids), source)
        self.pad_id = self.template.pad
        self.mask_id = next((ids[t] for t in ("<mask>", "[MASK]") if t in ids), None)
        self.do_lower_case = self.normalizer.lowercases
        self._spelling, self._unknown = self._spelling_tables(model)
        self._space = ClassTable(hu.classes("bert_split"))
        self._fast = None
        if hf_bert_fast.matches(self.spec):
            self._fast = hf_bert_fast.BertFastPath(
                self.spec["normalizer"], model["vocab"], model.get("unk_token", "[UNK]"),
                model.get("continuing_subword_prefix", "##"), int(model.get("max_input_chars_per_word", 100)))
            self._added_pattern = self.added.any_pattern() if not self.added_normalized.enabled else "(?s).*"

    def encode(self, texts: tf.Tensor) -> tf.RaggedTensor:
        if not self._exact_path:  # litert_tokenizer(): no transcoding, no added-token regex, no redo
            return self._fast(texts)
        # Invalid UTF-8 (only possible from bytes; the reference takes Python str) becomes U+FFFD first, one
        # per maximal invalid subsequence, as Python's `bytes.decode(errors="replace")` does.
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
        if self._fast is None:
            return self._exact(texts)
        fast = self._fast(texts)  # [B, (P)]; rows with [UNK] or an added token are redone exactly
        redo = rows_with(fast, self.unk_id)
        if self._added_pattern is not None:
            redo |= tf.strings.regex_full_match(texts, self._added_pattern)
        return redo_rows(texts, fast, redo, lambda t: (lambda ids: (ids.flat_values, ids.row_splits))(self._exact(t)))

    def litert_tokenizer(self) -> TokenizerBase:
        """With a BERT fast path: that path alone (FastBertNormalize, FastWordpieceTokenize and a gather, all
        with LiteRT kernels; the exact path's regex and ICU ops have none). Its ids differ from `encode`'s
        on texts whose fast ids hold [UNK], that type an added token ("[MASK]") or are invalid UTF-8."""
        return self._fast_path_only() if self._fast is not None else self

    def _exact(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Component by component: strings `[B]` -> int32 ids `[B, (P)]`."""
        first = tf.ones_like(texts, tf.bool)
        out = _split(texts, first, self.added, self._normalize_and_encode)  # [B, (P)]
        return tf.RaggedTensor.from_row_splits(tf.cast(out.flat_values, tf.int32), out.row_splits, validate=False)

    def _normalize_and_encode(self, segments: tf.Tensor, first: tf.Tensor) -> tf.RaggedTensor:
        """Text between the added tokens `[S]` -> int64 ids `[S, (P)]`: normalized, split again at the added
        tokens that match normalized text (`normalized: true`), pre-tokenized, run through the model."""
        cps = tf.strings.unicode_decode(segments, "UTF-8", errors="replace").with_row_splits_dtype(tf.int64)
        cps = self.normalizer(cps)
        if not self.added_normalized.enabled:
            return self._encode_normalized(cps, first)
        normalized = tf.strings.unicode_encode(cps, "UTF-8")
        return _split(normalized, first, self.added_normalized, lambda t, f: self._encode_normalized(
            tf.strings.unicode_decode(t, "UTF-8", errors="replace").with_row_splits_dtype(tf.int64), f))

    def _encode_normalized(self, cps: tf.RaggedTensor, first: tf.Tensor) -> tf.RaggedTensor:
        words = self.pre_tokenizer(cps, first)  # [S, (W), (c)]
        strings = tf.strings.unicode_encode(words.values, "UTF-8")  # [W]
        return words.with_values(self._model(strings)).merge_dims(1, 2)

    def _normalized(self, content: str) -> str:
        cps = tf.ragged.constant([[ord(c) for c in content]], tf.int32, row_splits_dtype=tf.int64)
        return tf.strings.unicode_encode(self.normalizer(cps), "UTF-8")[0].numpy().decode("utf-8")

    def word_ids(self, words: tf.Tensor) -> tf.RaggedTensor:
        if self.pre_tokenizer.byte_level is not None:  # as Hugging Face with is_split_into_words
            words = tf.strings.join([" ", words])
        return self(words)

    def piece_spans(self, chars, pieces):
        one = chars.flat_values[:, None]  # [C, 1] each character alone
        cps = self.normalizer(tf.RaggedTensor.from_tensor(one).with_row_splits_dtype(tf.int64))  # [C, (k)]
        prefix, prefix_span = "", "empty"
        if self.pre_tokenizer.metaspace is not None and self.pre_tokenizer.metaspace.scheme != "never":
            prefix, prefix_span = " ", "first"  # the prepended "▁" has the first character's offsets
        elif self.pre_tokenizer.byte_level is not None:
            prefix = " "
        else:  # split on whitespace: the pieces hold none of it
            cps = tf.ragged.boolean_mask(cps, tf.not_equal(tf.ragged.map_flat_values(self._space, cps),
                                                           hu.SPLIT_SPACE))
        normalized = tf.strings.unicode_encode(cps, "UTF-8")
        return spans.aligned_spans(chars, normalized, pieces, self._spelling, self._unknown, prefix, prefix_span)

    def _spelling_tables(self, model: dict):
        """What each id stands for in the word it came from, and which ids stand for nothing known."""
        spelling = []
        prefix = model.get("continuing_subword_prefix") or ""
        space = self.pre_tokenizer.metaspace.replacement if self.pre_tokenizer.metaspace is not None else None
        for token in self.vocab:
            if self.model_type == "BPE":
                spelling.append(token_bytes(token) or b"")
            elif self.model_type == "WordPiece" and prefix and token.startswith(prefix) and len(token) > len(prefix):
                spelling.append(token[len(prefix):].encode("utf-8"))
            else:
                spelling.append((token.replace(space, " ") if space else token).encode("utf-8"))
        added = {**self.added.ids, **self.added_normalized.ids}
        unknown = [i == self.unk_id or t in added for i, t in enumerate(self.vocab)]
        return eager_constant(spelling, tf.string), eager_constant(unknown, tf.bool)

    def _pad(self, ids: dict) -> int:
        padding = self.spec.get("padding") or {}
        if "pad_id" in padding:
            return int(padding["pad_id"])
        return next((ids[t] for t in ("<pad>", "[PAD]") if t in ids), 0)

    def resources(self) -> list:
        model = getattr(self._model, "resources", lambda: [])()
        return [*self.added.resources(), *self.added_normalized.resources(), *self.normalizer.resources(), *model]

    def files(self) -> dict[str, Path]:
        return {FILE: self.path}

    def config(self) -> dict:
        return {"kind": self.kind, "file": FILE}

    @classmethod
    def from_config(cls, config: dict, folder: Path) -> HFTokenizer:
        return cls(folder / config.get("file", FILE))


def _split(texts: tf.Tensor, first: tf.Tensor, added: AddedTokens, encode) -> tf.RaggedTensor:
    """Splits texts `[B]` at the added tokens, encodes the text between them (`encode(segments [S], first
    [S]) -> [S, (P)]`, `first`: the segment starts its text) and puts the tokens' ids back in: int64
    `[B, (P)]`."""
    segments, token = added.split(texts)  # [B, (S)] each
    flat, token_id = segments.flat_values, token.flat_values  # [S]
    plain = token_id < 0
    starts = tf.gather(first, segments.value_rowids()) & (tf.ragged.range(segments.row_lengths()).flat_values == 0)
    ids = encode(tf.boolean_mask(flat, plain), tf.boolean_mask(starts, plain))  # [S', (P)]
    tokens = tf.boolean_mask(token_id, ~plain)
    specials = tf.RaggedTensor.from_row_lengths(tokens, tf.ones_like(tokens))  # [S - S', (1)]
    order = tf.concat([tf.where(plain)[:, 0], tf.where(~plain)[:, 0]], axis=0)  # parts -> segments
    per_segment = tf.gather(tf.concat([ids, specials], 0), tf.math.invert_permutation(order))  # [S, (P)]
    return segments.with_flat_values(per_segment).merge_dims(1, 2)


def read_spec(path: Path) -> dict:
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise BertkitError(f"{path}: cannot read the tokenizer ({e.strerror}).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BertkitError(f"{path}: not a valid tokenizer.json ({e}); copy it again from the model's files.") \
            from None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise BertkitError(f"{path}: not a Hugging Face tokenizer.json (no \"model\" object).")
    return spec


def _guess_model_type(model: dict) -> str:
    if "merges" in model:
        return "BPE"
    if isinstance(model.get("vocab"), list):
        return "Unigram"
    return "WordPiece"


def _build_model(model: dict, kind: str, pre_tokenizer: PreTokenizer, source: str):
    """(vocab by id, words [W] -> int64 ids [W, (P)], unk id) for the `tokenizer.json` model."""
    if kind == "WordPiece":
        return _wordpiece(model, source)
    if kind == "Unigram":
        pieces = [(p, float(s)) for p, s in model["vocab"]]
        unk_id = model.get("unk_id")
        return [p for p, _ in pieces], Unigram(pieces, unk_id, bool(model.get("byte_fallback"))), unk_id
    if kind == "BPE":
        if pre_tokenizer.byte_level is None:
            raise BertkitError(f"{source}: a BPE model without the ByteLevel pre-tokenizer; bertkit supports "
                               "byte-level BPE (GPT-2, RoBERTa, ModernBERT).")
        for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
            if model.get(key):
                raise BertkitError(f"{source}: BPE option {key}={model[key]!r} is not supported in the graph.")
        vocab = model["vocab"]
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
        by_id = _by_id(vocab, source)
        return by_id, ByteLevelBPE(vocab, merges, source, ignore_merges=bool(model.get("ignore_merges"))), None
    raise BertkitError(f"{source}: model type {kind!r} is not supported; bertkit supports {', '.join(MODELS)}.")


def _by_id(vocab: dict[str, int], source: str) -> list[str]:
    out = [""] * (max(vocab.values()) + 1)
    for token, i in vocab.items():
        out[i] = token
    return out


class _WordPiece:
    """Hugging Face's WordPiece model on words: `FastWordpieceTokenizer` without pre-tokenization, and
    [UNK] for words over `max_input_chars_per_word` characters (the op limits bytes)."""

    def __init__(self, vocab: dict[str, int], unk: str, prefix: str, max_chars: int):
        self.unk_id = vocab[unk]
        self.max_chars = max_chars
        tokens = sorted(vocab, key=vocab.get)  # ids may have holes (a repeated vocab.txt line): map back
        self._ids = eager_constant([vocab[t] for t in tokens], tf.int64)
        self._op = text.FastWordpieceTokenizer(vocab=tokens, suffix_indicator=prefix, unknown_token=unk,
                                               max_bytes_per_word=4 * max_chars + 4, token_out_type=tf.int64,
                                               no_pretokenization=True, support_detokenization=False)

    def __call__(self, words: tf.Tensor) -> tf.RaggedTensor:
        ids = self._op.tokenize(words).with_row_splits_dtype(tf.int64)  # [W, (P)] positions in `tokens`
        ids = ids.with_flat_values(tf.gather(self._ids, ids.flat_values))
        long = tf.strings.length(words, unit="UTF8_CHAR") > self.max_chars  # [W]
        unk = tf.RaggedTensor.from_row_lengths(tf.fill([tf.size(words)], tf.constant(self.unk_id, tf.int64)),
                                               tf.ones_like(words, tf.int64))
        return select_rows(long, unk, ids)


def _wordpiece(model: dict, source: str):
    vocab = model["vocab"]
    unk = model.get("unk_token", "[UNK]")
    if unk not in vocab:
        raise BertkitError(f"{source}: the WordPiece unk_token {unk!r} is not in the vocabulary.")
    wordpiece = _WordPiece(vocab, unk, model.get("continuing_subword_prefix", "##"),
                           int(model.get("max_input_chars_per_word", 100)))
    return _by_id(vocab, source), wordpiece, wordpiece.unk_id
