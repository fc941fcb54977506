"""Google's BERT WordPiece tokenizer (`FullTokenizer`), exactly, as TensorFlow ops.

Runs in-graph (tf.data, tf.function, SavedModel signatures) on tensorflow-text kernels, in two paths:

* **Fast path**, every text: a `FastBertNormalizer` whose per-character table we build from the
  official rules (`unicode_rules.fast_mapping`: delete controls and U+FFFD, lower-case with
  `str.lower`, strip accents) instead of the stock NFKC-casefold table, then the end-to-end
  `FastWordpieceTokenizer` (which splits on whitespace, punctuation and CJK ideographs exactly as
  the official code does on every assigned character).
* **Exact path**, only texts whose fast ids contain [UNK]: regex deletion, final-sigma rule,
  `str.lower` table, ICU NFD, accent stripping, a regex word split and a per-word length check.

Why [UNK] is the right trigger: everything a per-character table cannot do (context-dependent
lower-casing, reordering of combining marks, unassigned characters above U+FFFF, words longer than
100 characters vs. 100 bytes) is made to produce [UNK] in the fast path, so a text without [UNK]
is already exact. Real English text almost never has [UNK] (no IMDB review does), so the exact
path costs nothing there.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_text as text

from bertkit.core.errors import BertkitError
from bertkit.tokenization import normalizer_model, spans, unicode_rules
from bertkit.tokenization.base import Template, TokenizerBase, eager_constant, redo_rows, rows_with

VOCAB_FILE = "vocab.txt"
MAX_INPUT_CHARS_PER_WORD = 200  # official WordpieceTokenizer.max_input_chars_per_word (HF's is 100)
REQUIRED_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
# Noncharacters (permanently unassigned): candidates for the fallback character that makes the fast path
# give [UNK]. Real text may hold them too; it then takes the exact path, which is right anyway.
_NONCHARACTERS = [*range(0xFDD0, 0xFDF0), *(plane * 0x10000 + low for plane in range(17) for low in (0xFFFE, 0xFFFF))]
# Tokens no text can produce are renamed to PLACEHOLDER + line number: a control character, which the
# official cleanup deletes from every text, so no normalized text contains it.
PLACEHOLDER = "\x01"


def load_vocab(path: str | os.PathLike) -> list[str]:
    """Reads a WordPiece vocabulary: one token per line, id = line number.

    As the official `load_vocab`: lines are split on "\\n" only and each is `.strip()`-ed.

    Raises:
        BertkitError: the file is missing, unreadable, not UTF-8 or empty.
    """
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise BertkitError(f"{path}: vocabulary file not found.") from None
    except UnicodeDecodeError as e:
        raise BertkitError(f"{path}: vocabulary file is not UTF-8 ({e.reason} at byte {e.start}).") from None
    except OSError as e:
        raise BertkitError(f"{path}: cannot read the vocabulary file ({e.strerror}).") from None
    if lines and lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    if not lines:
        raise BertkitError(f"{path}: vocabulary file is empty; expected one WordPiece token per line.")
    return [line.strip() for line in lines]


class WordPiece(TokenizerBase):
    """Text -> WordPiece ids, identical to google-research/bert `FullTokenizer`.

    Attributes:
        vocab: token strings; `vocab[i]` is the token of id `i`.
        vocab_file, do_lower_case: as given.
        max_chars: longer words are [UNK] (official: 200 characters).
        cls_id, sep_id, pad_id, unk_id: ids of the special tokens; `mask_id` is None without [MASK].
    """

    kind = "wordpiece"

    def __init__(self, vocab_file: str | os.PathLike, do_lower_case: bool = True,
                 max_input_chars_per_word: int = MAX_INPUT_CHARS_PER_WORD):
        self.vocab_file = str(vocab_file)
        self.do_lower_case = bool(do_lower_case)
        self.max_chars = int(max_input_chars_per_word)
        self.vocab = load_vocab(vocab_file)
        ids = self._token_ids()  # a repeated token keeps its last id, as in the official vocab dict
        missing = [t for t in REQUIRED_TOKENS if t not in ids]
        if missing:
            raise BertkitError(
                f"{self.vocab_file}: vocabulary lacks {', '.join(missing)}; a BERT vocabulary needs "
                f"{', '.join(REQUIRED_TOKENS)} (one token per line)."
            )
        cls_id, sep_id, self.pad_id, self.unk_id = (ids[t] for t in REQUIRED_TOKENS)
        self.mask_id = ids.get("[MASK]")
        self.template = Template.bert(cls_id, sep_id, self.pad_id)

        vocab_chars = set("".join(self.vocab))
        # `fallback` replaces what the fast path cannot handle and what the exact path must turn into
        # [UNK]: it is in no vocabulary token, so any word holding it is [UNK].
        self._fallback = next(chr(cp) for cp in _NONCHARACTERS if chr(cp) not in vocab_chars)
        wordpiece_vocab = _wordpiece_vocab(self.vocab, self.max_chars, self.vocab_file)
        self._fast_normalizer = text.FastBertNormalizer(
            model_buffer=_fast_model(self.do_lower_case, self._fallback, _vocab_unassigned(vocab_chars))
        )
        self._fast_wordpiece = text.FastWordpieceTokenizer(
            vocab=wordpiece_vocab,
            max_bytes_per_word=self.max_chars,  # more bytes: [UNK], then the exact path counts characters
            token_out_type=tf.int32,
        )
        self._exact_wordpiece = text.FastWordpieceTokenizer(
            vocab=wordpiece_vocab,
            max_bytes_per_word=4 * self.max_chars,  # longer words are replaced first
            token_out_type=tf.int32,
            no_pretokenization=True,
        )
        if self.do_lower_case:
            self._lower_normalizer = text.FastBertNormalizer(model_buffer=_lower_model())
        self._classes = unicode_rules.regex_classes()
        # What each id spells, for `piece_spans`: the token without "##" ("##" alone stays).
        self._spelling = eager_constant([t[2:] if t.startswith("##") and len(t) > 2 else t for t in self.vocab])
        self._unknown = eager_constant([i == self.unk_id for i in range(len(self.vocab))])

    def encode(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Strings `[B]` -> int32 ids `[B, (pieces)]`, without [CLS]/[SEP]: the fast path, and the exact path
        for the texts whose fast ids hold [UNK] (unless this is `litert_tokenizer()`)."""
        fast = self._fast_wordpiece.tokenize(self._fast_normalizer.normalize(texts))  # [B, (pieces)]
        if not self._exact_path:
            return fast
        return redo_rows(texts, fast, rows_with(fast, self.unk_id), self._exact)

    def litert_tokenizer(self) -> WordPiece:
        """This tokenizer with the fast path only: FastBertNormalize and FastWordpieceTokenize have LiteRT
        kernels (tensorflow-text's registrar), the exact path's regex and ICU ops have none.

        Its ids differ from `encode`'s only on texts whose fast ids hold [UNK] (the fast path then keeps
        the [UNK] where the exact path may find pieces); docs/serving.md says how often on real text.
        """
        return self._fast_path_only()

    def _exact(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The official algorithm step by step: `[R]` strings -> ids `[M]` and row splits `[R + 1]`."""
        c = self._classes
        # Invalid UTF-8 (only possible from bytes, never from Python str) is dropped, as the
        # official `convert_to_unicode` does with `errors="ignore"`; in the fast path it gives [UNK].
        x = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="ignore")
        x = tf.strings.regex_replace(x, c.deleted, "")  # `_clean_text`
        if self.do_lower_case:
            # Python's str.lower picks the final sigma from the neighbours; mark those first.
            cased, ignorable = c.cased[1:-1], c.case_ignorable[1:-1]
            final_sigma = f"([{cased}][{ignorable}]*)\u03a3([{ignorable}]*)($|[^{cased}{ignorable}])"
            x = tf.strings.regex_replace(x, final_sigma, "\\1\u03c2\\2\\3")
            x = self._lower_normalizer.normalize(x)  # str.lower, per character
            x = text.normalize_utf8(x, "NFD")  # on whole texts, so combining marks are reordered
            x = tf.strings.regex_replace(x, c.nonspacing, "")  # strip accents
        # Words: punctuation and CJK ideographs stand alone, whitespace runs separate.
        x = tf.strings.regex_replace(x, f"({c.isolated})", " \\1 ")
        x = tf.strings.regex_replace(x, f"{c.whitespace}+", " ")
        split = tf.raw_ops.StringSplitV2(input=x, sep=" ")  # sparse [R, (words)], with empty words
        nonempty = tf.strings.length(split.values) > 0
        words = tf.boolean_mask(split.values, nonempty)  # [W]
        word_rows = tf.boolean_mask(split.indices[:, 0], nonempty)  # [W]
        too_long = tf.strings.length(words, unit="UTF8_CHAR") > self.max_chars
        words = tf.where(too_long, self._fallback, words)  # the fallback character gives [UNK]
        pieces = self._exact_wordpiece.tokenize(words)  # [W, (pieces)]
        per_text = tf.math.unsorted_segment_sum(pieces.row_lengths(), word_rows, tf.size(texts))  # [R]
        return pieces.flat_values, tf.concat([[0], tf.cumsum(per_text)], axis=0)

    def piece_spans(self, chars, pieces):
        """Character span of each WordPiece within its word (graph ops, see `spans.aligned_spans`).

        The piece strings (without "##") must spell the word normalised per character as the tokenizer
        does (lower-case, NFD and no Mn when lower-casing; deleted and whitespace characters dropped);
        otherwise (an [UNK], a context-dependent case rule) every piece of the word spans the whole word.
        """
        one = tf.strings.unicode_encode(chars.flat_values[:, None], "UTF-8")  # [C] one character each
        if self.do_lower_case:
            one = self._lower_normalizer.normalize(one)
            one = text.normalize_utf8(one, "NFD")
            one = tf.strings.regex_replace(one, self._classes.nonspacing, "")
        one = tf.strings.regex_replace(one, unicode_rules.invisible_class(), "")
        return spans.aligned_spans(chars, one, pieces, self._spelling, self._unknown)

    def files(self) -> dict[str, Path]:
        return {VOCAB_FILE: Path(self.vocab_file)}

    def config(self) -> dict:
        return {"kind": self.kind, "vocab": VOCAB_FILE, "do_lower_case": self.do_lower_case,
                "max_input_chars_per_word": self.max_chars}

    @classmethod
    def from_config(cls, config: dict, folder: Path) -> WordPiece:
        return cls(folder / config.get("vocab", VOCAB_FILE), bool(config["do_lower_case"]),
                   int(config.get("max_input_chars_per_word", MAX_INPUT_CHARS_PER_WORD)))


Tokenizer = WordPiece  # the documented name since bertkit 0.1


def _vocab_unassigned(vocab_chars: set[str]) -> frozenset[str]:
    """Unassigned characters (in this Python's Unicode) that occur in the vocabulary.

    The fast path leaves unassigned characters alone and relies on them producing [UNK]: ICU, which
    splits the words, may know a newer Unicode in which such a character is punctuation. Any word
    holding one that a vocabulary token contains goes to the exact path instead.
    """
    return frozenset(ch for ch in vocab_chars if unicodedata.category(ch) == "Cn")


@functools.lru_cache(maxsize=8)
def _fast_model(do_lower_case: bool, fallback: str, extra_deleted: frozenset[str]) -> tf.Tensor:
    mapping = dict(unicode_rules.fast_mapping(do_lower_case, fallback))
    mapping.update({ch: "" for ch in extra_deleted})
    return _as_uint8(normalizer_model.build_model(mapping))


@functools.lru_cache(maxsize=1)
def _lower_model() -> tf.Tensor:
    return _as_uint8(normalizer_model.build_model(unicode_rules.lower_mapping()))


def _as_uint8(buffer: bytes) -> tf.Tensor:
    with tf.init_scope():  # an eager constant even if the first Tokenizer is built inside a graph
        return tf.constant(np.frombuffer(buffer, dtype=np.uint8))


def _wordpiece_vocab(vocab: list[str], max_chars: int, vocab_file: str) -> list[str]:
    """The vocabulary for FastWordpieceTokenizer, which needs unique, non-empty, short tokens.

    Tokens the official algorithm can never produce become `PLACEHOLDER + line number`, strings no
    normalized text contains: empty lines, earlier copies of a repeated token (the official dict
    keeps the last id), tokens longer than a word may be and tokens holding a deleted character.
    """
    last = {token: i for i, token in enumerate(vocab)}
    out = []
    for i, token in enumerate(vocab):
        body = token[2:] if token.startswith("##") else token
        if not token or last[token] != i or len(body) > max_chars or any(map(unicode_rules.is_deleted, token)):
            out.append(f"{PLACEHOLDER}{i}")
        elif len(body.encode("utf-8")) > 256:  # FastWordpieceTokenizer's limit
            raise BertkitError(f"{vocab_file}:{i + 1}: vocabulary token longer than 256 UTF-8 bytes.")
        else:
            out.append(token)
    return out
