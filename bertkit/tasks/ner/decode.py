"""NER answers from the model's tag logits, as graph ops: each word's tag probabilities, its tag, and the
entities with conlleval's chunk rules, their character offsets, text and score."""

from __future__ import annotations

import tensorflow as tf

from bertkit.data.conll import entity_types


def tag_parts(labels) -> tuple[list[int], list[str], list[int]]:
    """Per tag of `labels` (BIO): its prefix (0 "O", 1 "B", 2 "I"), the entity types, and its type
    (index into the types + 1; 0 for "O")."""
    types = entity_types(labels)
    prefix = [{"B": 1, "I": 2}.get(t[:1], 0) if t != "O" else 0 for t in labels]
    kind = [types.index(t[2:]) + 1 if t != "O" else 0 for t in labels]
    return prefix, types, kind


def chunk_entities(tag_ids, labels):
    """conlleval's chunks of BIO tag ids `[S, (W)]`: `(sentence, first word, end word, type)` int64 `[E]`
    each, the type an index into `tag_parts`' types + 1.

    A chunk starts at B-X, at an I-X after O, and at a tag whose type differs from the previous one;
    it ends before O, before B, and before a change of type. Each sentence is scored on its own.
    """
    prefix, _, kind = tag_parts(labels)
    prefix_of, type_of = tf.constant(prefix, tf.int64), tf.constant(kind, tf.int64)
    # One flat sequence, each sentence followed by an "O": it closes open entities, and the next
    # sentence starts after an "O" as conlleval's does.
    nrows = tag_ids.nrows()
    padded = tf.concat([tf.cast(tag_ids, tf.int64), tf.RaggedTensor.from_tensor(tf.zeros([nrows, 1], tf.int64))],
                       axis=1)
    flat = padded.flat_values  # [N + S], tag 0 is "O"
    prefix, kind = tf.gather(prefix_of, flat), tf.gather(type_of, flat)  # [N + S] per word
    prev, prev_kind = tf.concat([[0], prefix[:-1]], 0), tf.concat([[0], kind[:-1]], 0)
    starts = (prefix == 1) | ((prefix == 2) & (prev == 0)) | ((prefix != 0) & (prev_kind != kind))
    ends = ((prev != 0) & (prefix != 2)) | ((prev != 0) & (prev_kind != kind))
    first = tf.where(starts)[:, 0]  # [E] flat positions
    end_positions = tf.where(ends)[:, 0]  # sorted
    closing = tf.gather(end_positions, tf.gather(tf.cumsum(tf.cast(ends, tf.int64)), first))  # [E] the next end
    sentence = tf.gather(padded.value_rowids(), first)  # [E]
    row_start = tf.gather(padded.row_splits, sentence)  # [E]
    return sentence, first - row_start, closing - row_start, tf.gather(type_of, tf.gather(flat, first))


def decode_tags(logits, meta: dict, labels) -> dict:
    """Per sentence: its words with offsets, tags and tag probabilities, and its entities.

    Args:
        logits: float32 `[Nw, T, K]`, the model's outputs on the rows.
        meta: `encode_words`' `window` / `position` / `has_piece` and the words with their offsets and
            text (`bertkit.tasks.ner.words`).
        labels: the K tag names, "O" first.

    Returns:
        ragged `[S, (W)]`: `words`, `word_start`, `word_end`, `tags`, `tag_probabilities` `[S, (W), K]`;
        ragged `[S, (E)]`: `entity_text`, `entity_type`, `entity_start`, `entity_end` (characters), and
        `entity_score` (mean over its words of their top tag probability), `entity_first_word`,
        `entity_end_word`.
    """
    words = meta["words"]
    at = tf.stack([meta["window"], meta["position"]], axis=1)  # [N, 2]
    word_logits = tf.gather_nd(logits, at)  # [N, K]
    probs = tf.where(meta["has_piece"][:, None], tf.nn.softmax(word_logits, axis=-1),
                     tf.one_hot(tf.zeros_like(meta["window"]), len(labels)))  # [N, K]; no piece: "O"
    tag_ids = tf.argmax(probs, axis=1)  # [N]
    top = tf.cast(tf.reduce_max(probs, axis=1), tf.float64)  # [N]

    sentence, first, stop, kind = chunk_entities(words.with_flat_values(tag_ids), labels)  # [E]
    base = tf.gather(words.row_splits, sentence)
    w0, w1 = base + first, base + stop - 1  # [E] first / last word, over all words
    summed = tf.concat([[0.0], tf.cumsum(top)], 0)  # [N + 1]
    score = tf.cast((tf.gather(summed, w1 + 1) - tf.gather(summed, w0)) / tf.cast(stop - first, tf.float64),
                    tf.float32)  # [E]
    b_start = tf.gather(meta["byte_start"].flat_values, w0)
    b_len = tf.gather(meta["byte_end"].flat_values, w1) - b_start
    text = tf.strings.substr(tf.gather(meta["text"], sentence), b_start, b_len)  # [E]
    _, types, _ = tag_parts(labels)
    per_sentence = lambda values: tf.RaggedTensor.from_value_rowids(values, sentence, nrows=words.nrows())  # noqa: E731
    return {
        "words": words, "word_start": _int32(meta["char_start"]), "word_end": _int32(meta["char_end"]),
        "tags": words.with_flat_values(tf.gather(tf.constant(list(labels)), tag_ids)),
        "tag_probabilities": words.with_flat_values(probs),
        "entity_text": per_sentence(text),
        "entity_type": per_sentence(tf.gather(tf.constant([""] + types), kind)),
        "entity_start": per_sentence(tf.cast(tf.gather(meta["char_start"].flat_values, w0), tf.int32)),
        "entity_end": per_sentence(tf.cast(tf.gather(meta["char_end"].flat_values, w1), tf.int32)),
        "entity_score": per_sentence(score),
        "entity_first_word": per_sentence(tf.cast(first, tf.int32)),
        "entity_end_word": per_sentence(tf.cast(stop, tf.int32)),
    }


def _int32(ragged):
    return tf.cast(ragged, tf.int32)
