"""NER rows from words, as graph ops: each word's WordPieces, windows over long sequences, first-subword
labels, and where each word is read back from.

A *group* is read as one stream of pieces: one sentence, or with document context the consecutive
sentences of one document. The stream is cut into windows of what `max_seq_length` leaves after the
special ids (`bertkit.tasks.windows`); every window is a row `start pieces end` of the tokenizer's template
(`[CLS] pieces [SEP]` for BERT) and is trained on. A word's label sits on its first piece (later pieces,
the special ids and padding get LABEL_PAD, which the loss ignores),
and at prediction the word is read at that piece in the window where it has the most context.
"""

from __future__ import annotations

import tensorflow as tf

from bertkit.data.batching import LABEL_PAD
from bertkit.tasks.ner.words import case_ids
from bertkit.tasks.windows import max_context_owner, plan_windows, window_values


def encode_words(tokenizer, words, group_splits, *, budget: int, stride: int, with_case: bool, tags=None) -> dict:
    """Rows, labels and read-back positions of the words of every group.

    Args:
        tokenizer: the bundle's tokenizer.
        words: strings `[S, (W)]`, one row per sentence.
        group_splits: int64 `[G + 1]`, the sentences of each group (row splits over the S sentences).
        budget: pieces per window (`max_seq_length` minus the template's special ids).
        stride: pieces between window starts (at most `budget`).
        with_case: also make the `input_case_ids` rows (each piece's word casing class).
        tags: int32 `[S, (W)]` tag ids, or None (no labels).

    Returns:
        `rows` (ragged `[Nw, (T)]`: `input_word_ids`, `input_type_ids`, maybe `input_case_ids`),
        `labels` (ragged `[Nw, (T)]`, when `tags`), and per word `[N]`: `window` (the row it is read
        from), `position` (its first piece in that row) and `has_piece` (False for a word that makes
        no WordPiece, e.g. a lone control character).
    """
    flat_words = words.flat_values  # [N]
    pieces = tf.cast(tokenizer.tokenize_words(flat_words), tf.int64)  # [N, (P)]
    counts = pieces.row_lengths()  # [N]
    sentence_of_word = words.value_rowids()  # [N]
    group_of_sentence = tf.ragged.range(group_splits[1:] - group_splits[:-1]).value_rowids()  # [S]
    group_of_word = tf.gather(group_of_sentence, sentence_of_word)  # [N]
    piece_splits = tf.gather(pieces.row_splits, tf.gather(words.row_splits, group_splits))  # [G + 1]
    n_pieces = piece_splits[1:] - piece_splits[:-1]  # [G]
    first_piece = pieces.row_splits[:-1] - tf.gather(piece_splits, group_of_word)  # [N] in its group

    step = min(budget, max(1, stride))  # every window but the last is full
    plan = plan_windows(n_pieces, budget, step)
    template = tokenizer.template
    rows = {"input_word_ids": _wrap(window_values(pieces.flat_values, plan, piece_splits[:-1]),
                                    template.start, template.end)}  # [Nw, (T)]
    rows["input_type_ids"] = tf.zeros_like(rows["input_word_ids"])
    if with_case:
        piece_case = tf.repeat(tf.cast(case_ids(flat_words), tf.int64), counts)  # [P]
        rows["input_case_ids"] = _wrap(window_values(piece_case, plan, piece_splits[:-1]),
                                       (0,) * len(template.start), (0,) * len(template.end))

    owner = max_context_owner(first_piece, tf.gather(n_pieces, group_of_word), tf.gather(plan["count"], group_of_word),
                              tf.constant(budget, tf.int64), tf.constant(step, tf.int64))  # [N]
    has_piece = counts > 0  # [N]
    out = {"rows": {k: tf.cast(v, tf.int32) for k, v in rows.items()},
           "window": tf.gather(tf.cumsum(plan["count"], exclusive=True), group_of_word) + owner,  # [N]
           "position": tf.where(has_piece, len(template.start) + first_piece - owner * step, 0),  # [N]
           "has_piece": has_piece}
    if tags is not None:
        # Each word's tag on its first piece, LABEL_PAD on every other piece.
        first_global = tf.boolean_mask(pieces.row_splits[:-1], has_piece)[:, None]  # [N', 1]
        piece_label = tf.tensor_scatter_nd_update(
            tf.fill(tf.shape(pieces.flat_values), tf.constant(LABEL_PAD, tf.int64)), first_global,
            tf.boolean_mask(tf.cast(tags.flat_values, tf.int64), has_piece))  # [P]
        out["labels"] = tf.cast(_wrap(window_values(piece_label, plan, piece_splits[:-1]),
                                      (LABEL_PAD,) * len(template.start), (LABEL_PAD,) * len(template.end)), tf.int32)
    return out


def _wrap(values, first: tuple, last: tuple):
    """`first + row + last` for every row of `values` `[R, (T)]` (`first`, `last`: tuples of ids)."""
    def columns(ids):
        return tf.RaggedTensor.from_tensor(tf.tile(tf.constant([ids], values.dtype), [values.nrows(), 1]))

    return tf.concat([columns(first), values, columns(last)], axis=1)
