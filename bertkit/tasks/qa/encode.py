"""QA rows from questions and contexts, as graph ops, after Google's `run_squad.py`.

1. The context is split into words on run_squad's whitespace; each word is cut into WordPieces, and
   each piece gets the character span of the context it came from (`tokenizer.piece_spans`), so an
   answer is read straight from the original text.
2. A row is `start question middle window end` of the tokenizer's template (`[CLS] question [SEP]
   window [SEP]` for BERT), the question cut to `max_query_length` pieces; the windows of the context
   advance by `doc_stride` pieces (`bertkit.tasks.windows`).
3. Training labels: the first and last piece of the answer's characters; a window that does not hold
   the whole answer points both ends at position 0 ([CLS]).
"""

from __future__ import annotations

import tensorflow as tf

from bertkit.tasks.windows import max_context_owner, plan_windows, window_values

RUN_SQUAD_WHITESPACE = (0x20, 0x09, 0x0D, 0x0A, 0x202F)  # run_squad's is_whitespace


def context_words(context):
    """`[B]` strings -> word code points `[N, (chars)]`, each word's context `[N]` and first character
    `[N]` (int64 code-point offsets), and the words per context `[B]`."""
    cps = tf.strings.unicode_decode(context, "UTF-8", errors="replace")  # [B, (C)] int32
    flat = cps.flat_values  # [C]
    row = cps.value_rowids()  # [C]
    position = tf.range(tf.size(flat, out_type=tf.int64)) - tf.gather(cps.row_splits, row)  # [C]
    space = tf.reduce_any(flat[:, None] == tf.constant(RUN_SQUAD_WHITESPACE, tf.int32)[None, :], axis=1)  # [C]
    after_space = tf.concat([[True], space[:-1]], axis=0) | (position == 0)
    begins = ~space & after_space  # [C] first character of a word
    n_words = tf.reduce_sum(tf.cast(begins, tf.int64))
    word_of_char = tf.cumsum(tf.cast(begins, tf.int64)) - 1  # [C], meaningful where not space
    chars = tf.RaggedTensor.from_value_rowids(tf.boolean_mask(flat, ~space), tf.boolean_mask(word_of_char, ~space),
                                              nrows=n_words)  # [N, (chars)]
    word_row = tf.boolean_mask(row, begins)  # [N]
    per_context = tf.math.unsorted_segment_sum(tf.ones_like(word_row), word_row, tf.size(context, out_type=tf.int64))
    return chars, word_row, tf.boolean_mask(position, begins), per_context


def context_pieces(tokenizer, context) -> dict:
    """Every context's pieces laid end to end: `ids` `[P]`, their character `start` / `end` in their
    context `[P]`, and `splits` `[B + 1]` (where each context's pieces begin)."""
    chars, _, word_start, per_context = context_words(context)
    word_ids = tf.cast(tokenizer.tokenize_words(tf.strings.unicode_encode(chars, "UTF-8")), tf.int64)  # [N, (P)]
    start_in_word, end_in_word = tokenizer.piece_spans(chars, word_ids)
    base = tf.gather(word_start, word_ids.value_rowids())  # [P] the piece's word's first character
    word_splits = tf.concat([[0], tf.cumsum(per_context)], 0)  # [B + 1]
    return {"ids": word_ids.flat_values, "start": base + start_in_word, "end": base + end_in_word,
            "splits": tf.gather(word_ids.row_splits, word_splits)}


def encode_qa(tokenizer, question, context, *, max_seq_length: int, max_query_length: int, doc_stride: int,
              answer_start=None, answer_end=None) -> dict:
    """Rows, labels and the windows' layout for `decode_qa`.

    Args:
        question, context: strings `[B]`.
        max_seq_length, max_query_length, doc_stride: as run_squad's flags.
        answer_start, answer_end: int64 `[B]` character span of each answer in its context (end
            exclusive), or None (no labels).

    Returns:
        `rows` (ragged `[Nw, (T)]`), `labels` int32 `[Nw, 2]` (with answers), and `meta`: the windows
        (`row`, `k`, `start`, `length`, `offset` of the window's first piece in its row), each context
        piece's owning window `owner` `[P]`, and the pieces' character spans.
    """
    n = tf.size(question, out_type=tf.int64)
    query = tf.cast(tokenizer(question), tf.int64)[:, :max_query_length]  # [B, (Q)]
    pieces = context_pieces(tokenizer, context)
    n_pieces = pieces["splits"][1:] - pieces["splits"][:-1]  # [B]
    q_len = query.row_lengths()  # [B]
    template = tokenizer.template
    budget = tf.maximum(tf.cast(1, tf.int64), max_seq_length - q_len - template.specials(True))  # [B]
    step = tf.minimum(budget, max(1, doc_stride))  # [B]
    plan = plan_windows(n_pieces, budget, step)
    w_row = plan["sequence"]  # [Nw]
    nw = tf.size(w_row)

    def columns(ids):  # the same special ids at the head of every window's row
        return tf.RaggedTensor.from_tensor(tf.tile(tf.constant([ids], tf.int64), [nw, 1]))

    ids = tf.concat([columns(template.start), tf.gather(query, w_row), columns(template.middle),
                     window_values(pieces["ids"], plan, pieces["splits"][:-1]), columns(template.end)],
                    axis=1)  # [Nw, (T)]
    offset = tf.gather(q_len, w_row) + len(template.start) + len(template.middle)  # [Nw] window's first piece
    in_b = tf.ragged.range(ids.row_lengths()) >= offset[:, None]  # [Nw, (T)] the window and the end ids
    types = tf.cast(in_b, tf.int32) * template.type_b

    piece_row = tf.repeat(tf.range(n), n_pieces)  # [P]
    within = tf.range(tf.size(pieces["ids"], out_type=tf.int64)) - tf.gather(pieces["splits"], piece_row)  # [P]
    owner = max_context_owner(within, tf.gather(n_pieces, piece_row), tf.gather(plan["count"], piece_row),
                              tf.gather(budget, piece_row), tf.gather(step, piece_row))  # [P]
    meta = {"context": context, "n": n, "window_row": w_row, "window_k": plan["k"], "window_start": plan["start"],
            "window_length": plan["length"], "window_offset": offset, "window_base": tf.gather(
                pieces["splits"], w_row) + plan["start"], "owner": owner, "piece_start": pieces["start"],
            "piece_end": pieces["end"], "piece_splits": pieces["splits"]}
    out = {"rows": {"input_word_ids": tf.cast(ids, tf.int32), "input_type_ids": types}, "meta": meta}
    if answer_start is not None:
        out["labels"] = _labels(pieces, piece_row, n, answer_start, answer_end, plan, offset)
    return out


def _labels(pieces, piece_row, n, answer_start, answer_end, plan, offset):
    """int32 `[Nw, 2]`: the answer's first and last piece in each window's row, or `[0, 0]` ([CLS]) when
    the window does not hold the whole answer (or no piece covers the answer)."""
    big = tf.int64.max
    covers_start = pieces["end"] > tf.gather(answer_start, piece_row)  # [P] ends after the answer starts
    covers_end = pieces["start"] < tf.gather(answer_end, piece_row)  # [P] starts before it ends
    index = tf.range(tf.size(pieces["ids"], out_type=tf.int64)) - tf.gather(pieces["splits"], piece_row)  # [P]
    first = tf.math.unsorted_segment_min(tf.where(covers_start, index, big), piece_row, n)  # [B]
    last = tf.math.unsorted_segment_max(tf.where(covers_end, index, -1), piece_row, n)  # [B]
    found = (first <= last) & (last >= 0) & (first < big)  # [B]
    w_first, w_last = tf.gather(first, plan["sequence"]), tf.gather(last, plan["sequence"])  # [Nw]
    start, length = plan["start"], plan["length"]
    inside = tf.gather(found, plan["sequence"]) & (start <= w_first) & (w_last < start + length)  # [Nw]
    labels = tf.stack([offset + w_first - start, offset + w_last - start], axis=1)  # [Nw, 2]
    return tf.cast(tf.where(inside[:, None], labels, 0), tf.int32)
