"""A `tokenizer.json`'s added tokens (`<s>`, `[CLS]`, `<mask>`, ...): matched as they are in the text and
given their own ids, the rest of the text tokenized around them, as Hugging Face's AddedVocabulary does.

In the graph: the matches (longest first) are marked with 0xFF bytes, which valid UTF-8 never holds, and
the text is split there (`tf.strings.split`; `tensorflow_text.regex_split` would drop everything after
a NUL). Every occurrence of a token is marked, so a segment that equals a token's text is that token.
An `lstrip` token then takes the whitespace before it out of the segment before, an `rstrip` token the
whitespace after it out of the segment after.
"""

from __future__ import annotations

import tensorflow as tf

from bertkit.core.errors import BertkitError
from bertkit.tokenization import hf_unicode as hu
from bertkit.tokenization.base import eager_constant, static_table



class AddedTokens:
    """Splits texts `[B]` into segments `[B, (S)]` and the added-token id of each segment (-1: plain text)."""

    def __init__(self, tokens: list[dict], source: str):
        for t in tokens:
            if t.get("single_word"):
                raise BertkitError(f"{source}: added token {t['content']!r} has single_word=true, which bertkit "
                                   "does not support.")
        tokens = [t for t in tokens if t.get("content")]
        self.ids = {t["content"]: int(t["id"]) for t in tokens}
        self.enabled = bool(self.ids)
        if self.enabled:
            contents = sorted(self.ids, key=len, reverse=True)  # leftmost-longest, as the reference matches
            self._pattern = "(" + "|".join("".join(f"\\x{{{ord(c):X}}}" for c in t) for t in contents) + ")"
            strips = {t["content"]: (bool(t.get("lstrip")), bool(t.get("rstrip"))) for t in tokens}
            self._table = static_table(list(self.ids), list(range(len(self.ids))), -1, tf.string, tf.int64)
            self._token_ids = eager_constant(list(self.ids.values()), tf.int64)
            self._lstrip = eager_constant([strips[t][0] for t in self.ids], tf.bool)
            self._rstrip = eager_constant([strips[t][1] for t in self.ids], tf.bool)

    def resources(self) -> list:
        return [self._table] if self.enabled else []

    def any_pattern(self) -> str | None:
        """An RE2 pattern that fully matches a text holding any added token, or None without tokens."""
        return f"(?s).*{self._pattern}.*" if self.enabled else None

    def split(self, texts: tf.Tensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """(segments `[B, (S)]`, their token id or -1 `[B, (S)]`); empty segments are dropped."""
        if not self.enabled:
            segments = tf.RaggedTensor.from_row_lengths(texts, tf.ones_like(texts, tf.int64))
            segments = tf.ragged.boolean_mask(segments, tf.strings.length(segments) > 0)
            none = tf.fill(tf.shape(segments.flat_values), tf.constant(-1, tf.int64))
            return segments, segments.with_flat_values(none)
        marked = tf.strings.regex_replace(texts, self._pattern, b"\xff\\1\xff")
        segments = tf.strings.split(marked, sep=b"\xff").with_row_splits_dtype(tf.int64)  # [B, (S)]
        flat = segments.flat_values
        row = self._table.lookup(flat)  # [S] index into the tokens, -1 for text
        is_token = row >= 0
        safe = tf.maximum(row, 0)
        lstrip, rstrip = tf.gather(self._lstrip, safe) & is_token, tf.gather(self._rstrip, safe) & is_token
        same_row = segments.value_rowids()
        nxt = tf.concat([lstrip[1:], [False]], 0) & tf.equal(tf.concat([same_row[1:], [-1]], 0), same_row)
        prv = tf.concat([[False], rstrip[:-1]], 0) & tf.equal(tf.concat([[-1], same_row[:-1]], 0), same_row)
        text = ~is_token
        flat = tf.where(text & nxt, tf.strings.regex_replace(flat, f"[{hu.WHITE_SPACE_RE2}]+$", ""), flat)
        flat = tf.where(text & prv, tf.strings.regex_replace(flat, f"^[{hu.WHITE_SPACE_RE2}]+", ""), flat)
        ids = tf.where(is_token, tf.gather(self._token_ids, safe), -1)
        keep = tf.strings.length(flat) > 0
        segments = segments.with_flat_values(flat)
        return (tf.ragged.boolean_mask(segments, segments.with_flat_values(keep)),
                tf.ragged.boolean_mask(segments.with_flat_values(ids), segments.with_flat_values(keep)))
