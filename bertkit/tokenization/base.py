"""The tokenizer seam: what every tokenizer kind gives the tasks, the bundle and the export.

A kind (WordPiece, SentencePiece, byte-level BPE, a Hugging Face `tokenizer.json`) is one class that
subclasses `TokenizerBase` and is registered in `bertkit.tokenization.loading.KINDS`. It tokenizes in
TensorFlow ops (tf.data, tf.function, SavedModel signatures), and says how its family packs a text or a
pair into one row (`Template`) and which files rebuild it (`files`, `config`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import ClassVar

import tensorflow as tf

from bertkit.core import graph
from bertkit.core.errors import BertkitError

CONFIG_FILE = "tokenizer_config.json"  # bertkit's own (a "bertkit_tokenizer" key) or Hugging Face's
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Template:
    """How a family packs one text (`start a end`) or a pair (`start a middle b end`) into a row.

    BERT, ALBERT, DeBERTa: `[CLS] a [SEP] b [SEP]`, segment b typed 1; RoBERTa, XLM-R, MPNet:
    `<s> a </s></s> b </s>`, every position typed 0.

    Attributes:
        start, middle, end: the special ids before a, between a and b, after the last segment.
        type_b: the type id of b and of the ids after it (`start`, a and `middle` are typed 0).
        pad: the id that pads a row to its length (the mask marks it as padding).
    """

    start: tuple[int, ...]
    middle: tuple[int, ...]
    end: tuple[int, ...]
    type_b: int = 1
    pad: int = 0

    @classmethod
    def bert(cls, cls_id: int, sep_id: int, pad_id: int = 0) -> Template:
        return cls((cls_id,), (sep_id,), (sep_id,), 1, pad_id)

    @classmethod
    def roberta(cls, bos_id: int, eos_id: int, pad_id: int) -> Template:
        return cls((bos_id,), (eos_id, eos_id), (eos_id,), 0, pad_id)

    def specials(self, is_pair: bool) -> int:
        """How many special ids a row holds."""
        return len(self.start) + len(self.end) + (len(self.middle) if is_pair else 0)

    def to_dict(self) -> dict:
        return {"start": list(self.start), "middle": list(self.middle), "end": list(self.end),
                "type_b": self.type_b, "pad": self.pad}

    def check_types(self, type_vocab_size: int, source) -> None:
        """Refuses packing that types segment b with an id the encoder has no embedding for (0: no types)."""
        if type_vocab_size and self.type_b >= type_vocab_size:
            raise BertkitError(f"{source}: the tokenizer types the second text of a pair {self.type_b}, and the "
                               f"encoder has {type_vocab_size} token type(s) (config.json type_vocab_size); the "
                               "tokenizer files do not belong to this model (RoBERTa-style models pack pairs as "
                               "<s> a </s></s> b </s>, all typed 0).")

    @classmethod
    def from_dict(cls, data: dict) -> Template:
        return cls(tuple(data["start"]), tuple(data["middle"]), tuple(data["end"]), int(data["type_b"]),
                   int(data["pad"]))


class TokenizerBase:
    """Text -> ids in the graph, and what packing, bundles and exports need to know.

    A kind sets `vocab` (token strings by id), `template`, `pad_id`, `unk_id`, `mask_id` (None if it
    has no mask token) and implements `__call__`, `piece_spans`, `files` and `config`.

    Attributes:
        kind: the name the kind is registered under (`tokenizer_config.json` "kind").
        do_lower_case: whether the tokenizer lower-cases (NER's casing features read it).
    """

    kind: ClassVar[str] = ""
    vocab: list[str]
    template: Template
    pad_id: int
    unk_id: int | None
    mask_id: int | None
    do_lower_case: bool = False
    _exact_path: bool = True  # False in a kind's `litert_tokenizer()`

    def __call__(self, texts) -> tf.RaggedTensor:
        """Tokenizes a batch of texts: string `[B]` (a scalar is a batch of one) -> int32 `[B, (pieces)]`,
        without special tokens, exactly as the family's reference tokenizer.

        Works inside tf.data, tf.function and SavedModel signatures. Eagerly and in graphs alike it calls one
        cached tf.function: eagerly the ops one by one would be many times slower, and each graph that
        tokenizes (training's encode, prediction's, an export's) calls the graph traced once instead of
        tracing it again (1.5-2 s for a `tokenizer.json` on a 2-core Zen 3).
        """
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if texts.shape.rank == 0:
            texts = texts[tf.newaxis]
        if getattr(self, "_compiled", None) is None:
            self._compiled = graph.function(self.encode, input_signature=[tf.TensorSpec([None], tf.string)])
        return self._compiled(texts)

    def encode(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """The graph of `__call__`: strings `[B]` -> int32 ids `[B, (pieces)]` (row splits int64)."""
        raise NotImplementedError

    def litert_tokenizer(self) -> TokenizerBase:
        """The tokenizer a LiteRT (.tflite) export runs: this one, unless a kind needs ops without LiteRT
        kernels on a path it can do without (the WordPiece kinds' exact path). The export names any op left
        without a kernel."""
        return self

    def _fast_path_only(self) -> TokenizerBase:
        """A copy whose `encode` runs the fast path alone (`_exact_path` False), for `litert_tokenizer`."""
        fast = copy.copy(self)
        fast._exact_path, fast._compiled = False, None
        return fast

    def piece_spans(self, chars: tf.RaggedTensor, pieces: tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Each piece's character span within its word.

        Args:
            chars: code points of the words `[N, (C)]`.
            pieces: their ids `[N, (P)]`, as `tokenize_words` gives them.

        Returns:
            int64 `(start, end)` `[P total]` each, character offsets within the piece's word (end
            exclusive). A piece that cannot be lined up with the word's characters spans the whole word.
        """
        raise NotImplementedError

    def files(self) -> dict[str, Path]:
        """The files that rebuild this tokenizer, by the name they get in a bundle or export."""
        raise NotImplementedError

    def config(self) -> dict:
        """A JSON-serialisable description with a "kind" key; `loading.from_config(config, folder)` rebuilds
        the tokenizer from it and the `files()` copied into `folder`."""
        raise NotImplementedError

    def save(self, folder: Path) -> None:
        """Copies `files()` into `folder` and writes `tokenizer_config.json` (`config()` marked as bertkit's)."""
        folder = Path(folder)
        for name, source in self.files().items():
            if Path(source).resolve() != (folder / name).resolve():
                shutil.copyfile(source, folder / name)
        config = {"bertkit_tokenizer": FORMAT_VERSION, **self.config()}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def resources(self) -> list:
        """Trackable TF resources (lookup tables) the graph uses: a SavedModel must track them."""
        return []

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def cls_id(self) -> int:
        """The first special id of a row (`[CLS]`, `<s>`)."""
        return self.template.start[0] if self.template.start else self.template.end[-1]

    @property
    def sep_id(self) -> int:
        """The id that closes a segment (`[SEP]`, `</s>`)."""
        return self.template.end[0] if self.template.end else self.template.middle[0]

    def tokenize_words(self, words) -> tf.RaggedTensor:
        """Tokenizes pre-split words (CoNLL tokens, QA context words), each on its own.

        Args:
            words: strings `[B, (W)]`, ragged or dense; or `[N]`.

        Returns:
            int32 ids `[B, (W), (pieces)]` (`[N, (pieces)]` for `[N]` input); a word that yields nothing
            (e.g. a control character) has an empty row.
        """
        if isinstance(words, tf.RaggedTensor):
            return words.with_flat_values(self.word_ids(words.flat_values))
        words = tf.convert_to_tensor(words, dtype=tf.string)
        if words.shape.rank == 1:
            return self.word_ids(words)
        return self.tokenize_words(tf.RaggedTensor.from_tensor(words))

    def word_ids(self, words: tf.Tensor) -> tf.RaggedTensor:
        """`[N]` words -> `[N, (pieces)]`: how the family tokenizes a word given alone (BERT: as a text;
        byte-level BPE: with the space that precedes a word inside a text)."""
        return self(words)

    def tokenize(self, text: str) -> list[str]:
        """Eager convenience, like `FullTokenizer.tokenize`: one text -> its token strings."""
        return self.convert_ids_to_tokens(self([text])[0].numpy())

    def convert_tokens_to_ids(self, tokens) -> list[int]:
        """Raises KeyError for a token not in the vocabulary, as the official code does."""
        ids = self._token_ids()
        return [ids[t] for t in tokens]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.vocab[int(i)] for i in ids]

    def _token_ids(self) -> dict[str, int]:
        if getattr(self, "_ids_cache", None) is None:
            self._ids_cache = {token: i for i, token in enumerate(self.vocab)}  # a repeat keeps its last id
        return self._ids_cache


def eager_constant(value, dtype=None) -> tf.Tensor:
    """A constant created eagerly, even when the tokenizer is built inside a graph (a tf.function)."""
    with tf.init_scope():
        return tf.constant(value, dtype)


def static_table(keys, values, default, key_dtype=None, value_dtype=None) -> tf.lookup.StaticHashTable:
    """A `StaticHashTable` built eagerly (see `eager_constant`)."""
    with tf.init_scope():
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys, key_dtype), tf.constant(values, value_dtype))
        return tf.lookup.StaticHashTable(initializer, default)


def select_rows(condition: tf.Tensor, x: tf.RaggedTensor, y: tf.RaggedTensor) -> tf.RaggedTensor:
    """Row i of `x` where `condition[i]`, else row i of `y` (`condition` bool `[N]`, `x`, `y` `[N, (k)]`)."""
    n = tf.size(condition, out_type=tf.int64)
    i = tf.range(n)
    both = tf.concat([x.with_row_splits_dtype(tf.int64), y.with_row_splits_dtype(tf.int64)], axis=0)
    return tf.gather(both, tf.where(condition, i, n + i))


def redo_rows(texts: tf.Tensor, fast: tf.RaggedTensor, redo: tf.Tensor, exact) -> tf.RaggedTensor:
    """`fast` ids `[B, (P)]` with the rows where `redo` (bool `[B]`) replaced by `exact(texts[redo])`.

    One cheap scalar test per batch; the per-row work only when some row needs it. The branch is built
    from plain (assert-free) ops: an Assert in it would make the `If` stateful, and tf.data then stops
    running the map function in parallel.

    Args:
        texts: strings `[B]`.
        fast: int32 ids `[B, (P)]` (int64 row splits).
        redo: bool `[B]`.
        exact: strings `[R]` -> (int32 ids `[M]`, int64 row splits `[R + 1]`).
    """
    values, splits = fast.flat_values, fast.row_splits

    def replace():
        lengths = splits[1:] - splits[:-1]  # [B]
        exact_values, exact_splits = exact(tf.boolean_mask(texts, redo))  # [M], [R + 1]
        # Row i comes from `values` or, if redone, from the exact rows (in the same order).
        exact_row = tf.cumsum(tf.cast(redo, tf.int64), exclusive=True)  # [B], in [0, R]
        exact_lengths = tf.concat([exact_splits[1:] - exact_splits[:-1], [0]], axis=0)  # [R + 1]
        # Source ranges in `concat([values, exact_values])`, then one gather builds the result.
        exact_starts = tf.size(values, out_type=tf.int64) + tf.gather(exact_splits, exact_row)  # [B]
        starts = tf.where(redo, exact_starts, splits[:-1])  # [B]
        limits = starts + tf.where(redo, tf.gather(exact_lengths, exact_row), lengths)  # [B]
        new_splits, index = tf.raw_ops.RaggedRange(starts=starts, limits=limits, deltas=tf.ones_like(starts))
        return tf.gather(tf.concat([values, exact_values], axis=0), index), new_splits

    values, splits = tf.cond(tf.reduce_any(redo), replace, lambda: (values, splits))
    return tf.RaggedTensor.from_row_splits(values, splits, validate=False)


def rows_with(ids: tf.RaggedTensor, token_id: int) -> tf.Tensor:
    """bool `[B]`: the rows of `ids` `[B, (P)]` that hold `token_id`."""
    hit = tf.cast(tf.equal(ids.flat_values, token_id), tf.int32)
    return tf.math.unsorted_segment_sum(hit, ids.value_rowids(), ids.nrows()) > 0
