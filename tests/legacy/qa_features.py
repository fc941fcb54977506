"""(bertkit/tasks/qa_features.py at e500e48, kept only to prove the graph version equal to it.)

Extractive QA features and span decoding, after Google's `run_squad.py`.

* The context is split into words on whitespace; each word is cut into WordPieces, and each piece
  gets the character span it came from (by matching the piece against the word normalised as the
  tokenizer does: lower-case, NFD, accents and control characters dropped). Where that match fails
  (e.g. an [UNK]) every piece of the word spans the whole word, which is what run_squad's word-level
  mapping gives. Answers are then read straight from the original text: `context[start:end]`.
* A feature is `[CLS] question [SEP] window of the context [SEP]`, the question cut to
  `max_query_length` pieces; windows of the context advance by `doc_stride` pieces. A training window
  that does not hold the whole answer points both ends at [CLS].
* Decoding: for every window the `n_best` highest start and end logits over context pieces are
  paired; a span is kept when end >= start, it has at most `max_answer_length` pieces and its start
  piece has its maximum context in that window. The best `n_best` distinct answer texts over all
  windows of a question are returned, scored by start + end logit.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from legacy.token_features import max_context_span, windows, word_pieces

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


def answer_pieces(context: Context, start: int, end: int) -> tuple[int, int] | None:
    """First and last piece covering characters `[start, end)`, or None if no piece does."""
    first = np.nonzero(context.ends > start)[0]
    last = np.nonzero(context.starts < end)[0]
    if not len(first) or not len(last) or last[-1] < first[0]:
        return None
    return int(first[0]), int(last[-1])


def qa_features(examples, tokenizer, max_seq_length: int, *, max_query_length: int, doc_stride: int,
                with_labels: bool) -> FeatureSet:
    """Features for `QAExample`s; `meta` maps each back to its example and context pieces."""
    contexts = tokenize_contexts(tokenizer, [e.context for e in examples])
    questions = tokenizer(tf.constant([e.question for e in examples] or [""], tf.string))  # [N, (pieces)]
    q_values, q_splits = questions.flat_values.numpy().astype(np.int32), questions.row_splits.numpy()
    word_ids, type_ids, labels = [], [], []
    meta = {"example": [], "doc_offset": [], "span_start": [], "span_length": [], "max_context": []}
    for ei, e in enumerate(examples):
        query = q_values[q_splits[ei]:q_splits[ei + 1]][:max_query_length]
        context = contexts[e.context]
        budget = max(1, max_seq_length - len(query) - 3)
        spans = windows(len(context.ids), budget, doc_stride)
        answer = None
        if with_labels:
            text, start = e.answers[0]
            answer = answer_pieces(context, start, start + len(text))
        offset = len(query) + 2
        for si, (start, length) in enumerate(spans):
            ids = np.concatenate([[tokenizer.cls_id], query, [tokenizer.sep_id],
                                  context.ids[start:start + length], [tokenizer.sep_id]]).astype(np.int32)
            word_ids.append(ids)
            type_ids.append(np.concatenate([np.zeros(offset, np.int32), np.ones(length + 1, np.int32)]))
            if with_labels:
                inside = answer is not None and start <= answer[0] and answer[1] < start + length
                labels.append([offset + answer[0] - start, offset + answer[1] - start] if inside else [0, 0])
            meta["example"].append(ei)
            meta["doc_offset"].append(offset)
            meta["span_start"].append(start)
            meta["span_length"].append(length)
            meta["max_context"].append(np.array([max_context_span(spans, start + j) == si for j in range(length)]))
    meta = {k: (v if k == "max_context" else np.asarray(v, np.int64)) for k, v in meta.items()}
    meta["contexts"] = contexts
    return {"word_ids": word_ids, "type_ids": type_ids,
            "labels": np.asarray(labels, np.int32).reshape(-1, 2) if with_labels else None, "meta": meta}


def best_spans(windows_logits, n_best: int, max_answer_length: int) -> list[tuple[float, int, int]]:
    """Candidate answer spans of one question over all its windows.

    Args:
        windows_logits: per window `(start_logits [L], end_logits [L], span_start, max_context [L])`,
            logits over the window's context pieces only.
        n_best: candidates kept per window side and overall.
        max_answer_length: longest answer, in pieces.

    Returns:
        `(score, first piece, last piece)` in context-piece positions, best first.
    """
    found = []
    for start_logits, end_logits, span_start, max_context in windows_logits:
        starts = np.argsort(-start_logits, kind="stable")[:n_best]
        ends = np.argsort(-end_logits, kind="stable")[:n_best]
        for s in starts:
            if not max_context[s]:
                continue
            for e in ends:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                found.append((float(start_logits[s] + end_logits[e]), span_start + int(s), span_start + int(e)))
    found.sort(key=lambda c: -c[0])
    return found


def decode(context_text: str, context: Context, candidates, n_best: int) -> list[dict]:
    """The n-best distinct answers: text (from the original context), offsets, score, probability."""
    answers, seen = [], set()
    for score, first, last in candidates:
        start, end = int(context.starts[first]), int(context.ends[last])
        text = context_text[start:end]
        if text in seen:
            continue
        seen.add(text)
        answers.append({"text": text, "start": start, "end": end, "score": score})
        if len(answers) == n_best:
            break
    if not answers:
        return [{"text": "", "start": 0, "end": 0, "score": 0.0, "probability": 1.0}]
    scores = np.array([a["score"] for a in answers])
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    for a, p in zip(answers, probs):
        a["probability"] = float(p)
    return answers
