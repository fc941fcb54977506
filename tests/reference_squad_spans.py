"""Where each WordPiece of a SQuAD context comes from, in plain Python (run_squad's whitespace words, and
each piece matched against its word normalised per character as the tokenizer normalises it): the
reference `Tokenizer.piece_spans` and QA's `context_pieces` are tested against. Written from
run_squad.py's and tokenization.py's rules; the tokenizer itself is bertkit's (exact vs Google's, tested
in test_tokenization*.py)."""

import unicodedata
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

WORD_CHUNK = 16384  # words per tokenizer call


def word_pieces(tokenizer, words) -> list[np.ndarray]:
    """WordPiece ids of each word (each distinct word tokenized once): a list of int32 arrays.

    A word is tokenized alone, which gives the same pieces as in running text: BERT's basic
    tokenizer splits on whitespace before anything else.
    """
    words = list(words)
    distinct = list(dict.fromkeys(words))
    pieces: dict[str, np.ndarray] = {}
    for i in range(0, len(distinct), WORD_CHUNK):
        chunk = distinct[i:i + WORD_CHUNK]
        ids = tokenizer(tf.constant(chunk, tf.string))  # [W, (pieces)]
        values, splits = ids.flat_values.numpy().astype(np.int32), ids.row_splits.numpy()
        pieces.update(zip(chunk, np.split(values, splits[1:-1])))
    return [pieces[w] for w in words]


_WHITESPACE = frozenset(" \t\r\n\u202f")  # run_squad's is_whitespace


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Whitespace-separated words of `text` and their `(start, end)` character offsets."""
    words, offsets, start = [], [], None
    for i, ch in enumerate(text + " "):
        if ch in _WHITESPACE or i == len(text):
            if start is not None:
                words.append(text[start:i])
                offsets.append((start, i))
                start = None
        elif start is None:
            start = i
    return words, offsets


def _normalise_char(ch: str, lower: bool) -> str:
    if lower:
        ch = unicodedata.normalize("NFD", ch.lower())
        ch = "".join(c for c in ch if unicodedata.category(c) != "Mn")
    return "".join(c for c in ch if not (ord(c) in (0, 0xFFFD) or unicodedata.category(c).startswith("C")
                                         or c.isspace()))


def align_pieces(word: str, pieces: list[str], lower: bool) -> list[tuple[int, int]] | None:
    """Character span (within `word`) of each WordPiece string, or None when they do not match."""
    chars, origin = [], []
    for i, ch in enumerate(word):
        for c in _normalise_char(ch, lower):
            chars.append(c)
            origin.append(i)
    norm, pos, spans = "".join(chars), 0, []
    for piece in pieces:
        text = piece[2:] if piece.startswith("##") and len(piece) > 2 else piece
        if piece == "[UNK]" or not text or not norm.startswith(text, pos):
            return None
        spans.append((origin[pos], origin[pos + len(text) - 1] + 1))
        pos += len(text)
    return spans if pos == len(norm) else None


@dataclass
class Context:
    """A tokenized context: piece ids and each piece's character span in the context."""

    ids: np.ndarray  # [P] int32
    starts: np.ndarray  # [P] character start of each piece
    ends: np.ndarray  # [P] character end of each piece


def tokenize_contexts(tokenizer, contexts) -> dict[str, Context]:
    """Each distinct context -> its `Context` (all words of all contexts tokenized in one pass)."""
    distinct = list(dict.fromkeys(contexts))
    split = [split_words(c) for c in distinct]
    pieces = word_pieces(tokenizer, [w for words, _ in split for w in words])
    out, k = {}, 0
    for context, (words, offsets) in zip(distinct, split):
        ids, starts, ends = [], [], []
        for word, (w_start, w_end) in zip(words, offsets):
            word_ids = pieces[k]
            k += 1
            spans = align_pieces(word, tokenizer.convert_ids_to_tokens(word_ids), tokenizer.do_lower_case)
            if spans is None:
                spans = [(0, w_end - w_start)] * len(word_ids)
            ids.extend(word_ids)
            starts.extend(w_start + s for s, _ in spans)
            ends.extend(w_start + e for _, e in spans)
        out[context] = Context(np.asarray(ids, np.int32), np.asarray(starts, np.int64), np.asarray(ends, np.int64))
    return out
