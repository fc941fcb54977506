"""`qa` models as a raw-text SavedModel signature: all of `QATask.predict` in TensorFlow ops.

    serving_default(question: string [B], context: string [B]) ->
      answer              string  [B]     the best answer, cut from the context ("" if there is none)
      start, end          int32   [B]     its character offsets in the context (end exclusive)
      score               float32 [B]     its start + end logit
      probability         float32 [B]     softmax of the score over the n-best answers
      n_best_text         string  [B, N]  the n-best distinct answers, best first (padding "")
      n_best_start, n_best_end   int32   [B, N]  (padding -1)
      n_best_score, n_best_probability  float32 [B, N]  (padding 0)

N is the bundle's `n_best` option. The steps are those of `qa_features` and `best_spans` / `decode`:

1. context words: runs of characters outside run_squad's whitespace, with code-point offsets;
2. each word's WordPieces and their character spans: the piece strings (without "##") must spell
   the word normalised per character as `align_pieces` does (lower-case, NFD, no Mn, no C*/Z*),
   and then each piece spans the characters it came from; otherwise every piece spans the word;
3. features `[CLS] question[:max_query_length] [SEP] window [SEP]`, the windows advancing by
   `min(budget, doc_stride)` pieces; each context piece is read from its max-context window;
4. per window the `n_best` highest start and end logits (`top_k` puts ties at the lower position,
   as the stable argsort does), pairs kept if end >= start, short enough and max-context;
5. per question the candidates in score order (ties: window, start rank, end rank, as the Python
   sort), distinct texts, the first N, and a float64 softmax of their scores.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bertkit.serving.graph_windows import max_context_owner, window_count
from bertkit.unicode_rules import invisible_class, regex_classes

RUN_SQUAD_WHITESPACE = (0x20, 0x09, 0x0D, 0x0A, 0x202F)  # qa_features._WHITESPACE
ROW_KEY_WIDTH = 12  # digits of the row number put before an answer text to deduplicate per question


def context_words(context):
    """`[B]` strings -> word code points `[N, (chars)]`, each word's row `[N]` and first character
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


def piece_spans(chars, pieces, vocab, lower_normalizer=None):
    """Character spans of WordPieces within their words, as `qa_features.align_pieces` (or the whole
    word where it gives None).

    Args:
        chars: code points of the words `[N, (C)]`.
        pieces: their WordPiece ids `[N, (P)]`.
        vocab: string `[V]`, the token of each id.
        lower_normalizer: `Tokenizer.lower_normalizer`, the per-character `str.lower` when the model
            lower-cases, else None.

    Returns:
        int64 `(start, end)` `[P total]` each, offsets within the piece's word.
    """
    # The word normalised per character, and each normalised character's origin in the word.
    one = tf.strings.unicode_encode(chars.flat_values[:, None], "UTF-8")  # [C] one character each
    if lower_normalizer is not None:
        one = lower_normalizer.normalize(one)
        one = tf_text.normalize_utf8(one, "NFD")
        one = tf.strings.regex_replace(one, regex_classes().nonspacing, "")
    one = tf.strings.regex_replace(one, invisible_class(), "")
    one_len = tf.cast(tf.strings.length(one, unit="UTF8_CHAR"), tf.int64)  # [C]
    normalised = tf.strings.reduce_join(chars.with_flat_values(one), axis=1)  # [N]
    char_index = tf.ragged.range(chars.row_lengths()).flat_values  # [C] position in its word
    origin = tf.repeat(char_index, one_len)  # [C'] normalised character -> word character
    origin_splits = tf.concat([[0], tf.cumsum(tf.math.unsorted_segment_sum(
        one_len, chars.value_rowids(), chars.nrows()))], 0)  # [N + 1]

    tokens = tf.gather(vocab, pieces.flat_values)  # [P]
    text = tf.strings.regex_replace(tokens, r"(?s)^##(.)", r"\1")  # "##" alone stays
    text_len = tf.cast(tf.strings.length(text, unit="UTF8_CHAR"), tf.int64)  # [P]
    bad = (tokens == "[UNK]") | (text_len == 0)
    word_of_piece = pieces.value_rowids()  # [P]
    n_words = pieces.nrows()
    spelled = tf.strings.reduce_join(pieces.with_flat_values(text), axis=1)  # [N]
    any_bad = tf.math.unsorted_segment_max(tf.cast(bad, tf.int32), word_of_piece, n_words) > 0  # [N]
    matched = (spelled == normalised) & ~any_bad  # [N]

    offset = tf.cumsum(text_len, exclusive=True)  # [P] normalised position of each piece's text ...
    offset -= tf.gather(tf.concat([offset, [0]], 0), tf.gather(pieces.row_splits, word_of_piece))  # ... in its word
    base = tf.gather(origin_splits, word_of_piece)
    padded = tf.concat([origin, [0]], axis=0)
    ok = tf.gather(matched, word_of_piece)  # [P]
    first = tf.where(ok, base + offset, tf.size(origin, out_type=tf.int64))
    last = tf.where(ok, base + offset + text_len - 1, tf.size(origin, out_type=tf.int64))
    whole = tf.gather(chars.row_lengths(), word_of_piece)  # [P]
    start = tf.where(ok, tf.gather(padded, first), 0)
    end = tf.where(ok, tf.gather(padded, last) + 1, whole)
    return start, end


def qa_signature(model):
    """The `ServingSignature` of a QA bundle (see the module docstring)."""
    from bertkit.serving.export import ServingSignature

    task = model.task
    opts = task.config.extra
    tokenizer, keras_model = task.tokenizer, model.model
    n_best, max_answer = int(opts["n_best"]), int(opts["max_answer_length"])
    max_query, stride = int(opts["max_query_length"]), max(1, int(opts["doc_stride"]))
    max_seq = int(model.preprocess.max_seq_length)
    vocab = tf.constant(tokenizer.vocab, tf.string)  # [V]
    lower = tokenizer.lower_normalizer

    def serve(question, context):
        nq = tf.size(question, out_type=tf.int64)
        query = tf.cast(tokenizer(question), tf.int64)[:, :max_query]  # [B, (Q)]
        chars, word_row, word_start, per_context = context_words(context)
        word_ids = tf.cast(tokenizer(tf.strings.unicode_encode(chars, "UTF-8")), tf.int64)  # [N, (P)]
        start_in_word, end_in_word = piece_spans(chars, word_ids, vocab, lower)
        piece_word = word_ids.value_rowids()
        piece_start = tf.gather(word_start, piece_word) + start_in_word  # [P] offsets in the context
        piece_end = tf.gather(word_start, piece_word) + end_in_word
        word_splits = tf.concat([[0], tf.cumsum(per_context)], 0)  # [B + 1]
        context_splits = tf.gather(word_ids.row_splits, word_splits)  # [B + 1] pieces of each context
        n_pieces = context_splits[1:] - context_splits[:-1]  # [B]
        flat_ids = word_ids.flat_values  # [P]

        # Windows (`token_features.windows`): every window but the last is `budget` pieces long.
        q_len = query.row_lengths()  # [B]
        budget = tf.maximum(tf.cast(1, tf.int64), max_seq - q_len - 3)  # [B]
        step = tf.minimum(budget, stride)
        n_windows = window_count(n_pieces, budget, step)  # [B]
        w_row = tf.repeat(tf.range(nq), n_windows)  # [Nw]
        w_k = tf.ragged.range(n_windows).flat_values  # [Nw]
        w_start = w_k * tf.gather(step, w_row)
        w_len = tf.minimum(tf.gather(n_pieces, w_row) - w_start, tf.gather(budget, w_row))  # [Nw]
        w_base = tf.gather(context_splits, w_row) + w_start  # [Nw] first piece in flat_ids
        nw = tf.size(w_len)
        column = lambda value: tf.RaggedTensor.from_tensor(tf.fill([nw, 1], tf.cast(value, tf.int64)))  # noqa: E731
        window_ids = tf.gather(flat_ids, tf.ragged.range(w_base, w_base + w_len))  # [Nw, (len)]
        ids = tf.concat([column(tokenizer.cls_id), tf.gather(query, w_row), column(tokenizer.sep_id), window_ids,
                         column(tokenizer.sep_id)], axis=1)  # [Nw, (T)]
        offset = tf.gather(q_len, w_row) + 2  # [Nw] position of the window's first piece
        types = tf.cast(tf.ragged.range(ids.row_lengths()) >= offset[:, None], tf.int32)
        inputs = {"input_word_ids": tf.cast(ids, tf.int32).to_tensor(),  # [Nw, T]
                  "input_mask": tf.ones_like(ids, tf.int32).to_tensor(),
                  "input_type_ids": types.to_tensor()}
        logits = tf.cast(keras_model(inputs, training=False), tf.float32)  # [Nw, T, 2]

        # Each context piece's max-context window (`token_features.max_context_span`).
        piece_row = tf.repeat(tf.range(nq), n_pieces)  # [P]
        j = tf.range(tf.size(flat_ids, out_type=tf.int64)) - tf.gather(context_splits, piece_row)  # [P]
        owner = max_context_owner(j, tf.gather(n_pieces, piece_row), tf.gather(n_windows, piece_row),
                                  tf.gather(budget, piece_row), tf.gather(step, piece_row))  # [P]

        # The n-best starts and ends of each window, over its context pieces.
        positions = tf.ragged.range(w_len)  # [Nw, (len)]
        window_of = tf.cast(positions.value_rowids(), tf.int64)  # [sum len]
        at = tf.stack([window_of, positions.flat_values + tf.gather(offset, window_of)], axis=1)
        dense = positions.with_flat_values(tf.gather_nd(logits, at)).to_tensor(-float("inf"))  # [Nw, L, 2]
        top = tf.minimum(tf.cast(n_best, tf.int32), tf.shape(dense)[1])
        s_val, s_pos = tf.math.top_k(dense[:, :, 0], k=top)  # [Nw, n]
        e_val, e_pos = tf.math.top_k(dense[:, :, 1], k=top)
        s_pos, e_pos = tf.cast(s_pos, tf.int64), tf.cast(e_pos, tf.int64)
        piece = tf.gather(w_base, window_of) + positions.flat_values  # [sum len] index into flat_ids
        is_owner = positions.with_flat_values(
            tf.gather(owner, piece) == tf.gather(w_k, window_of)).to_tensor(False)  # [Nw, L]
        s_ok = (s_pos < w_len[:, None]) & tf.gather(is_owner, s_pos, batch_dims=1)  # [Nw, n]
        e_ok = e_pos < w_len[:, None]
        s, e = s_pos[:, :, None], e_pos[:, None, :]  # [Nw, n, 1], [Nw, 1, n]
        keep = s_ok[:, :, None] & e_ok[:, None, :] & (e >= s) & (e - s + 1 <= max_answer)  # [Nw, n, n]
        pair_score = s_val[:, :, None] + e_val[:, None, :]  # float32, as the Python's sum
        shape = tf.shape(keep, out_type=tf.int64)
        flat_keep = tf.reshape(keep, [-1])
        cand_window = tf.boolean_mask(tf.repeat(tf.range(shape[0]), shape[1] * shape[2]), flat_keep)  # [M]
        cand_score = tf.boolean_mask(tf.reshape(pair_score, [-1]), flat_keep)
        cand_first = tf.boolean_mask(tf.reshape(tf.broadcast_to(s, shape), [-1]), flat_keep) \
            + tf.gather(w_start, cand_window)  # [M] context piece positions
        cand_last = tf.boolean_mask(tf.reshape(tf.broadcast_to(e, shape), [-1]), flat_keep) \
            + tf.gather(w_start, cand_window)
        cand_row = tf.gather(w_row, cand_window)  # [M], non-decreasing

        # Per question in score order; top_k keeps equal scores in their original order.
        by_row = tf.RaggedTensor.from_value_rowids(cand_score, cand_row, nrows=nq)  # [B, (M)]
        dense_scores = by_row.to_tensor(-float("inf"))  # [B, Mmax]
        _, order = tf.math.top_k(dense_scores, k=tf.shape(dense_scores)[1])
        order = tf.RaggedTensor.from_tensor(tf.cast(order, tf.int64), lengths=by_row.row_lengths())
        sorted_index = (order + by_row.row_starts()[:, None]).flat_values  # [M] into the candidates
        row = tf.gather(cand_row, sorted_index)
        first_char = tf.gather(piece_start, tf.gather(context_splits, row) + tf.gather(cand_first, sorted_index))
        end_char = tf.gather(piece_end, tf.gather(context_splits, row) + tf.gather(cand_last, sorted_index))
        answer_text = tf.strings.substr(tf.gather(context, row), first_char, end_char - first_char, unit="UTF8_CHAR")

        # Distinct texts per question, the first n_best of them.
        key = tf.strings.join([tf.strings.as_string(row, width=ROW_KEY_WIDTH, fill="0"), answer_text])
        _, which = tf.unique(key, out_idx=tf.int64)
        place = tf.range(tf.size(key, out_type=tf.int64))
        first_seen = tf.math.unsorted_segment_min(place, which, tf.reduce_max(tf.concat([which, [-1]], 0)) + 1)
        distinct = tf.gather(first_seen, which) == place  # [M]
        seen = tf.cumsum(tf.cast(distinct, tf.int64), exclusive=True)  # [M], rows are contiguous
        rank = seen - tf.gather(seen, tf.gather(by_row.row_starts(), row))  # within its row
        chosen = distinct & (rank < n_best)
        pick = lambda x: tf.RaggedTensor.from_value_rowids(tf.boolean_mask(x, chosen), tf.boolean_mask(row, chosen),  # noqa: E731
                                                           nrows=nq)  # [B, (<= n_best)]
        scores = pick(tf.gather(cand_score, sorted_index))
        s64 = tf.cast(scores, tf.float64)
        exp = tf.exp(s64 - tf.reduce_max(s64, axis=1)[:, None])
        probability = tf.cast(exp / tf.reduce_sum(exp, axis=1)[:, None], tf.float32)

        def padded(x, default):  # [B, (n)] -> [B, n_best]
            return x.to_tensor(default, shape=[None, n_best])

        texts, starts, ends = pick(answer_text), pick(first_char), pick(end_char)
        found = texts.row_lengths() > 0  # [B]; none: "" at 0 with probability 1, as `decode`
        n_text, n_start, n_end = padded(texts, ""), tf.cast(padded(starts, -1), tf.int32), \
            tf.cast(padded(ends, -1), tf.int32)
        n_score, n_prob = padded(scores, 0.0), padded(probability, 0.0)
        return {
            "answer": tf.where(found, n_text[:, 0], ""),
            "start": tf.where(found, n_start[:, 0], 0), "end": tf.where(found, n_end[:, 0], 0),
            "score": tf.where(found, n_score[:, 0], 0.0), "probability": tf.where(found, n_prob[:, 0], 1.0),
            "n_best_text": n_text, "n_best_start": n_start, "n_best_end": n_end,
            "n_best_score": n_score, "n_best_probability": n_prob,
        }

    return ServingSignature(
        inputs=("question", "context"),
        outputs={"answer": "string [B], the best answer from the context ('' if none)",
                 "start": "int32 [B], its character offset in the context",
                 "end": "int32 [B], its character offset in the context, exclusive",
                 "score": "float32 [B], start + end logit",
                 "probability": "float32 [B], softmax of the score over the n-best answers",
                 "n_best_text": f"string [B, {n_best}], distinct answers, best first (padding '')",
                 "n_best_start": f"int32 [B, {n_best}] (padding -1)",
                 "n_best_end": f"int32 [B, {n_best}] (padding -1)",
                 "n_best_score": f"float32 [B, {n_best}] (padding 0)",
                 "n_best_probability": f"float32 [B, {n_best}] (padding 0)"},
        fn=serve,
        info={"labels": [], "is_pair": True, "n_best": n_best},
        scores="n_best",
        compare=compare_answers,
    )


def compare_answers(got: dict, expected: list) -> float:
    """Largest difference between the export's outputs and `predict_scores`'s n-best lists: of the
    probabilities, and of the scores relative to their size (logits of 20 carry float32 noise of
    ~1e-6); infinite when an answer's text or offsets differ."""
    worst = 0.0
    for i, nbest in enumerate(expected):
        real = [a for a in nbest if a["text"]]  # an answer is never empty; "" stands for none
        n = int((got["n_best_start"][i] >= 0).sum())
        if n != len(real):
            return float("inf")
        for j, a in enumerate(real):
            text = got["n_best_text"][i][j].decode("utf-8")
            if (text, int(got["n_best_start"][i][j]), int(got["n_best_end"][i][j])) != (a["text"], a["start"], a["end"]):
                return float("inf")
            worst = max(worst, abs(float(got["n_best_score"][i][j]) - a["score"]) / max(1.0, abs(a["score"])),
                        abs(float(got["n_best_probability"][i][j]) - a["probability"]))
        top = nbest[0]
        if (got["answer"][i].decode("utf-8"), int(got["start"][i]), int(got["end"][i])) != \
                (top["text"], top["start"], top["end"]):
            return float("inf")
        worst = max(worst, abs(float(got["probability"][i]) - top["probability"]))
    return worst
