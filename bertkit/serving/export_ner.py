"""`ner` models as a raw-text SavedModel signature: all of `NerTask.predict` in TensorFlow ops.

    serving_default(text: string [B]) ->
      words              string  [B, W]     the words, as `TokenExample.from_text` splits them
      word_start, word_end int32 [B, W]     character offsets into the text (end exclusive)
      tags               string  [B, W]     the BIO tag of each word
      tag_probabilities  float32 [B, W, K]  softmax over the tag list (`labels`)
      entity_text, entity_type string [B, E]
      entity_start, entity_end int32 [B, E] character offsets into the text (end exclusive)
      entity_score       float32 [B, E]     mean over the entity's words of their top tag probability

W and E are the largest counts in the batch; shorter rows are padded with "", -1 or 0 (as TF Serving
pads any batched output). The steps are those of `NerTask`, each in graph ops:

1. words: `conll.WORD_RE2`, the RE2 spelling of the Python word pattern (offsets: bytes -> characters);
2. casing classes (`ner.word_case`) from Unicode general categories, for models with case features;
3. each word's WordPieces with the bundle's `Tokenizer`, then windows of `max_seq_length - 2` pieces
   every `stride` pieces, each word read from the window where it has the most context;
4. tags and entities with conlleval's chunk rules (`conll_metrics.chunks`).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

from bertkit.data.conll import WHITESPACE_RE2, WORD_RE2, entity_types
from bertkit.serving.graph_windows import max_context_owner, window_count
from bertkit.tasks.ner import CASES


def split_words(text):
    """`[B]` strings -> words `[B, (W)]` with byte and character offsets `[B, (W)]` (int64)."""
    # The regex split stops at a NUL character; U+0001 is, like it, a lone non-space "word".
    safe = tf.strings.regex_replace(text, r"\x00", "\x01")
    pieces, starts, ends = tf_text.regex_split_with_offsets(safe, WORD_RE2, WORD_RE2)  # [B, (pieces)]
    # Every non-space character matches WORD_RE2, so what lies between the matches is whitespace.
    keep = tf.ragged.map_flat_values(
        lambda p: tf.logical_not(tf.strings.regex_full_match(p, "[" + WHITESPACE_RE2 + "]+")), pieces)
    byte_start, byte_end = (tf.ragged.boolean_mask(x, keep) for x in (starts, ends))
    words = tf.RaggedTensor.from_tensor(  # cut from the original text, NULs included
        tf.strings.substr(text[:, None], byte_start.to_tensor(0), (byte_end - byte_start).to_tensor(0)),
        lengths=byte_start.row_lengths())  # [B, (W)]
    _, char_bytes = tf.strings.unicode_decode_with_offsets(text, "UTF-8")  # [B, (C)] byte offset of each char
    table = char_bytes.to_tensor(default_value=tf.int64.max)  # [B, C]

    def to_chars(offsets):  # a byte offset -> the number of characters that start before it
        dense = offsets.to_tensor(default_value=0)  # [B, W]
        found = tf.searchsorted(table, dense, side="left", out_type=tf.int64)  # [B, W]
        return tf.RaggedTensor.from_tensor(found, lengths=offsets.row_lengths())

    return words, byte_start, byte_end, to_chars(byte_start), to_chars(byte_end)


def case_ids(words):
    """`[N]` words -> int32 `[N]` casing classes, as `ner.word_case` (index into CASES)."""
    chars = tf.strings.unicode_split(words, "UTF-8")  # [N, (C)]

    def has(pattern):
        return tf.ragged.map_flat_values(tf.strings.regex_full_match, chars, pattern)  # [N, (C)] bool

    letter, lower, upper, digit = has(r"\p{L}"), has(r"\p{Ll}"), has(r"\p{Lu}"), has(r"\p{Nd}")
    count = lambda flags: tf.reduce_sum(tf.cast(flags, tf.int32), axis=1)  # noqa: E731  [N]
    letters, lowers, uppers = count(letter), count(lower), count(upper)
    first_upper = tf.reduce_any(tf.ragged.boolean_mask(upper, letter)[:, :1], axis=1)  # [N]
    c = {name: tf.constant(CASES.index(name), tf.int32) for name in CASES}
    return tf.where(letters == 0, tf.where(tf.reduce_any(digit, axis=1), c["number"], c["other"]),
           tf.where(lowers == letters, c["lower"],
           tf.where(uppers == letters, tf.where(letters > 1, c["upper"], c["title"]),
           tf.where(first_upper & (lowers == letters - 1), c["title"], c["mixed"]))))


def chunk_entities(tag_ids, labels):
    """conlleval chunks of BIO tag ids `[B, (W)]` -> `(sentence, first word, end word)` int64 `[E]` each."""
    prefix_of = tf.constant([{"B": 1, "I": 2}.get(t[:1], 0) if t != "O" else 0 for t in labels], tf.int64)
    types = entity_types(labels)
    type_of = tf.constant([types.index(t[2:]) + 1 if t != "O" else 0 for t in labels], tf.int64)
    # One flat sequence, each sentence followed by an "O": it closes open entities, and the next
    # sentence starts after an "O" as conlleval's does.
    nrows = tag_ids.nrows()
    padded = tf.concat([tag_ids, tf.RaggedTensor.from_tensor(tf.zeros([nrows, 1], tag_ids.dtype))], axis=1)
    flat = padded.flat_values  # [N + B], label 0 is "O"
    prefix, kind = tf.gather(prefix_of, flat), tf.gather(type_of, flat)  # [N + B]
    prev, prev_kind = tf.concat([[0], prefix[:-1]], 0), tf.concat([[0], kind[:-1]], 0)
    starts = (prefix == 1) | ((prefix == 2) & (prev == 0)) | ((prefix != 0) & (prev_kind != kind))
    ends = ((prev != 0) & (prefix != 2)) | ((prev != 0) & (prev_kind != kind))
    first = tf.where(starts)[:, 0]  # [E] flat positions
    end_positions = tf.where(ends)[:, 0]  # sorted
    closing = tf.gather(end_positions, tf.gather(tf.cumsum(tf.cast(ends, tf.int64)), first))  # [E] the next end
    sentence = tf.gather(padded.value_rowids(), first)  # [E]
    row_start = tf.gather(padded.row_splits, sentence)  # [E]
    return sentence, first - row_start, closing - row_start, tf.gather(type_of, tf.gather(flat, first))


def ner_signature(model):
    """The `ServingSignature` of a NER bundle (see the module docstring)."""
    from bertkit.serving.export import ServingSignature

    task = model.task
    labels = list(task.config.labels)
    types = entity_types(labels)
    keras_model, tokenizer = model.model, task.tokenizer
    budget = max(1, model.preprocess.max_seq_length - 2)
    stride = int(task.config.extra.get("stride") or 0) or max(1, budget // 2)
    step = min(budget, max(1, stride))  # `token_features.windows`: every window but the last is full
    with_case = task.case_features
    label_names = tf.constant(labels, tf.string)  # [K]
    type_names = tf.constant([""] + types, tf.string)  # type id -> name

    def serve(text):
        words, byte_start, byte_end, char_start, char_end = split_words(text)  # [B, (W)]
        flat_words = words.flat_values  # [N]
        pieces = tokenizer(flat_words)  # [N, (P)]
        counts = pieces.row_lengths()  # [N]
        sentence_of_word = words.value_rowids()  # [N]
        piece_splits = tf.gather(pieces.row_splits, words.row_splits)  # [B + 1] per-sentence pieces
        n_pieces = piece_splits[1:] - piece_splits[:-1]  # [B]
        first_piece = pieces.row_splits[:-1] - tf.gather(piece_splits, sentence_of_word)  # [N] in its sentence
        piece_case = tf.repeat(case_ids(flat_words), counts) if with_case else None  # [P total]

        # Windows (`token_features.windows`): n_b of them per sentence, window k starting at k * step.
        n_windows = window_count(n_pieces, budget, step)  # [B]
        window_sentence = tf.repeat(tf.range(tf.size(n_windows, out_type=tf.int64)), n_windows)  # [Nw]
        window_k = tf.ragged.range(n_windows).flat_values  # [Nw]
        window_start = window_k * step  # [Nw]
        window_len = tf.minimum(tf.gather(n_pieces, window_sentence) - window_start, budget)  # [Nw]
        begin = tf.gather(piece_splits, window_sentence) + window_start
        index = tf.ragged.range(begin, begin + window_len)  # [Nw, (len)] into the flat pieces
        nw = tf.size(window_len)
        column = lambda value: tf.RaggedTensor.from_tensor(tf.fill([nw, 1], tf.constant(value, tf.int32)))  # noqa: E731

        ids = tf.concat([column(tokenizer.cls_id), tf.gather(tf.cast(pieces.flat_values, tf.int32), index),
                         column(tokenizer.sep_id)], axis=1)  # [Nw, (len + 2)]
        inputs = {"input_word_ids": ids.to_tensor(),  # [Nw, T]
                  "input_mask": tf.ones_like(ids).to_tensor(),
                  "input_type_ids": tf.zeros_like(ids).to_tensor()}
        if with_case:
            cases = tf.concat([column(0), tf.gather(piece_case, index), column(0)], axis=1)
            inputs["input_case_ids"] = cases.to_tensor()  # [Nw, T]
        logits = tf.cast(keras_model(inputs, training=False), tf.float32)  # [Nw, T, K]

        # Each word's owning window (`token_features.max_context_span`).
        owner = max_context_owner(first_piece, tf.gather(n_pieces, sentence_of_word),
                                  tf.gather(n_windows, sentence_of_word), tf.constant(budget, tf.int64),
                                  tf.constant(step, tf.int64))  # [N]
        has_piece = counts > 0  # [N]
        window = tf.gather(tf.cumsum(n_windows, exclusive=True), sentence_of_word) + owner  # [N]
        position = tf.where(has_piece, 1 + first_piece - owner * step, 0)  # [N]
        word_logits = tf.gather_nd(logits, tf.stack([window, position], axis=1))  # [N, K]
        probs = tf.where(has_piece[:, None], tf.nn.softmax(word_logits, axis=-1),
                         tf.one_hot(tf.zeros_like(counts), len(labels)))  # [N, K]; no piece: "O"
        tag_ids = tf.argmax(probs, axis=1)  # [N]
        top = tf.cast(tf.reduce_max(probs, axis=1), tf.float64)  # [N]

        # Entities (conlleval chunks), with offsets, text and mean top probability.
        sentence, first, stop, kind = chunk_entities(words.with_flat_values(tag_ids), labels)  # [E]
        base = tf.gather(words.row_splits, sentence)
        w0, w1 = base + first, base + stop - 1  # [E] global first / last word
        summed = tf.concat([[0.0], tf.cumsum(top)], 0)  # [N + 1]
        entity_score = tf.cast((tf.gather(summed, w1 + 1) - tf.gather(summed, w0))
                               / tf.cast(stop - first, tf.float64), tf.float32)  # [E]
        b_start, b_end = tf.gather(byte_start.flat_values, w0), tf.gather(byte_end.flat_values, w1)
        nrows = tf.size(text, out_type=tf.int64)

        def per_text(values, default):  # [E] -> [B, E] padded
            return tf.RaggedTensor.from_value_rowids(values, sentence, nrows=nrows).to_tensor(default)

        position_start, position_len = per_text(b_start, 0), per_text(b_end - b_start, 0)  # [B, E]
        entity_text = tf.strings.substr(text[:, None], position_start, position_len)  # [B, E]
        has_entity = per_text(tf.ones_like(sentence, tf.bool), False)  # [B, E]
        to_int = lambda r: tf.cast(r, tf.int32).to_tensor(-1)  # noqa: E731
        return {
            "words": words.to_tensor(""),
            "word_start": to_int(char_start), "word_end": to_int(char_end),
            "tags": words.with_flat_values(tf.gather(label_names, tag_ids)).to_tensor(""),
            "tag_probabilities": words.with_flat_values(probs).to_tensor(0.0),
            "entity_text": tf.where(has_entity, entity_text, ""),
            "entity_type": per_text(tf.gather(type_names, kind), ""),
            "entity_start": tf.cast(per_text(tf.gather(char_start.flat_values, w0), -1), tf.int32),
            "entity_end": tf.cast(per_text(tf.gather(char_end.flat_values, w1), -1), tf.int32),
            "entity_score": per_text(entity_score, 0.0),
        }

    k = len(labels)
    return ServingSignature(
        inputs=("text",),
        outputs={"words": "string [B, W], the words (padding '')",
                 "word_start": "int32 [B, W], character offset of each word (padding -1)",
                 "word_end": "int32 [B, W], character offset after each word (padding -1)",
                 "tags": "string [B, W], the BIO tag of each word",
                 "tag_probabilities": f"float32 [B, W, {k}], in the order of `labels`",
                 "entity_text": "string [B, E], the entities (padding '')",
                 "entity_type": "string [B, E], their types",
                 "entity_start": "int32 [B, E], character offsets (padding -1)",
                 "entity_end": "int32 [B, E], character offsets, exclusive (padding -1)",
                 "entity_score": "float32 [B, E], mean top tag probability over the entity's words"},
        fn=serve,
        info={"labels": labels, "entity_types": types, "is_pair": False},
        scores="tag_probabilities",
    )
