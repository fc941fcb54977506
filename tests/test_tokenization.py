"""Tokenizer tests in the style of google-research/bert `tokenization_test.py`: a tiny inline vocab,
exact expected pieces, plus random strings checked against the plain-Python reference."""

import random
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as text

from bertkit.tokenization import normalizer_model
from bertkit.core.errors import BertkitError
from bertkit.tokenization.wordpiece import Tokenizer, load_vocab
from tests import reference_wordpiece as ref

VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##want", "##ed", "wa", "un", "runn", "##ing",
    ",", ".", "!", "?", "…", "low", "lowest", "hallo", "hello", "how", "are", "you", "HeLLo", "Are", "yoU",
    "HäLLo", "ah", "zz", "\u535a", "\u63a8", "a", "##a", "σ", "##σ", "οδος", "σο", "i", "e", "##e", "$", "5",
]


@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
    return path


@pytest.fixture
def tokenizer(vocab_file):
    return Tokenizer(vocab_file, do_lower_case=True)


@pytest.mark.parametrize(
    "text_, pieces",
    [
        ("UNwant\u00e9d,running", ["un", "##want", "##ed", ",", "runn", "##ing"]),  # the BERT test
        (" \tHäLLo!how  \n Are yoU?  ", ["hallo", "!", "how", "are", "you", "?"]),  # lower + accents
        ("hello!?$5", ["hello", "!", "?", "$", "5"]),  # every punctuation character alone
        ("ah\u535a\u63a8zz", ["ah", "\u535a", "\u63a8", "zz"]),  # CJK ideographs alone
        ("hel\x00lo wa\u200bnt\x7f", ["hello", "want"]),  # NUL, Cf and Cc deleted, not spaces
        ("hel\ufffdlo", ["hello"]),  # U+FFFD deleted
        ("hello\u2026", ["hello", "\u2026"]),  # "…" stays one character (stock: "...")
        ("hello\xa0how\u3000are\u2028you", ["hello", "how", "are", "you"]),  # Zs, Zl split words
        ("hello unwantedx", ["hello", "[UNK]"]),  # one unknown piece makes the whole word [UNK]
        ("\u0130", ["i"]),  # "İ".lower() is "i" + combining dot, which strip_accents removes
        ("\u039f\u0394\u039f\u03a3.", ["οδος", "."]),  # final sigma (exact path)
        ("\u03a3\u039f", ["σο"]),  # medial sigma
        ("hello \uf0b7 \U000f0000how", ["hello", "[UNK]", "[UNK]"]),  # private use (Co) stays, unknown
        ("he\U000e0080llo hi\ue000", ["[UNK]", "[UNK]"]),  # unassigned (Cn) and Co inside a word: [UNK]
        ("", []),
    ],
)
def test_tokenize_lower(tokenizer, text_, pieces):
    assert tokenizer.tokenize(text_) == pieces
    assert ref.tokenize(text_, ref.load_vocab(tokenizer.vocab_file)) == pieces


def test_tokenize_cased(vocab_file):
    tokenizer = Tokenizer(vocab_file, do_lower_case=False)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]
    assert tokenizer.tokenize("HäLLo") == ["HäLLo"]  # no lower-casing, no accent stripping
    assert tokenizer.tokenize("Ha\u0308LLo") == ["[UNK]"]  # the combining mark is kept, so no match


def test_word_length_limit(tokenizer, vocab_file):
    assert tokenizer.tokenize("a" * 200) == ["a"] + ["##a"] * 199
    assert tokenizer.tokenize("a" * 201) == ["[UNK]"]
    # 110 characters but 220 bytes: within the official 200-character limit.
    assert tokenizer.tokenize("σ" * 110) == ["σ"] + ["##σ"] * 109
    assert tokenizer.tokenize("ä" * 201) == ["[UNK]"]
    hf_limit = Tokenizer(vocab_file, max_input_chars_per_word=100)  # HF's BertTokenizer limit
    assert hf_limit.tokenize("a" * 101) == ["[UNK]"] and hf_limit.tokenize("σ" * 60) == ["σ"] + ["##σ"] * 59


def test_invalid_utf8_dropped(tokenizer):
    """Bytes input: invalid UTF-8 is dropped, as official `convert_to_unicode` (errors="ignore")."""
    cases = [b"hel\xfflo", b"a\xe2\x82h \xc3", b"\xed\xa0\x80un\xc0\xafwant"]
    expected = [ref.token_ids(c.decode("utf-8", "ignore"), ref.load_vocab(tokenizer.vocab_file)) for c in cases]
    assert tokenizer(tf.constant(cases)).to_list() == expected
    assert tokenizer.convert_ids_to_tokens(expected[0]) == ["hello"]


def test_ids_and_conversions(tokenizer):
    ids = tokenizer(["UNwant\u00e9d,running"]).to_list()
    assert ids == [[9, 6, 7, 12, 10, 11]]
    assert tokenizer.convert_ids_to_tokens(ids[0]) == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tokenizer.convert_tokens_to_ids(["un", "[SEP]"]) == [9, 3]
    assert (tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id, tokenizer.unk_id) == (2, 3, 0, 1)
    assert tokenizer.mask_id == 4
    assert tokenizer(["hello", ""]).dtype == tf.int32


def test_tokenize_words(tokenizer):
    words = tf.ragged.constant([["UNwant\u00e9d", "\x01", "running"], ["hello"]])
    pieces = tokenizer.tokenize_words(words)  # [B, (words), (pieces)]
    assert pieces.to_list() == [[[9, 6, 7], [], [10, 11]], [[20]]]
    assert tokenizer.tokenize_words([["un", "want"]]).to_list() == [[[9], [5]]]  # dense input


def test_in_graph(tokenizer):
    texts = ["UNwant\u00e9d,running", "hello \u03a3\u039f", "hel\x00lo"]
    eager = tokenizer(texts).to_list()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(batch):
        return tokenizer(batch)

    assert tokenize(tf.constant(texts)).to_list() == eager
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(2).map(tokenizer, num_parallel_calls=2)
    assert [row for batch in ds for row in batch.to_list()] == eager


def test_saved_model(tokenizer, tmp_path):
    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.tokenizer = tokenizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            ids = self.tokenizer(texts)
            return {"values": ids.flat_values, "splits": ids.row_splits}

    tf.saved_model.save(Serving(), str(tmp_path / "serving"))
    loaded = tf.saved_model.load(str(tmp_path / "serving"))
    out = loaded(tf.constant(["UNwant\u00e9d,running", "\u039f\u0394\u039f\u03a3"]))
    assert tf.RaggedTensor.from_row_splits(out["values"], out["splits"]).to_list() == [[9, 6, 7, 12, 10, 11], [36]]


CHAR_POOL = (
    list("aeiounrstwghl ,.!?$") + ["A", "W", "H", "\t", "\n", "\r", "\x00", "\x01", "\x7f", "\x85", "\u200b"]
    + ["ä", "é", "Å", "\u0301", "\u0308", "\u0130", "\u03a3", "\u03c3", "\u03c2", "\u039f", "\u0394", "'", "\u00b7"]
    + ["\u535a", "\u63a8", "\u3042", "\u2026", "\ufffd", "\uf0b7", "\U000f0000", "\U0001f642", "\u00a0", "\u2028"]
    + ["\U0001d165", "\U0001d166", "\u302e", "\u0345", "\u00bd", "\ufb01", "\u2126", "\u037e", "\uac00", "\u00df"]
)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_random_strings_match_reference(vocab_file, do_lower_case):
    """Random strings over characters that exercise every rule, fast and exact path alike."""
    tokenizer = Tokenizer(vocab_file, do_lower_case=do_lower_case)
    vocab = ref.load_vocab(vocab_file)
    rng = random.Random(1234)
    pieces = [t.lstrip("#") for t in VOCAB if not t.startswith("[")]
    texts = []
    for _ in range(400):
        parts = [rng.choice(pieces + CHAR_POOL) for _ in range(rng.randint(0, 12))]
        texts.append("".join(parts))
    got = tokenizer(texts).to_list()
    for text_, ids in zip(texts, got):
        assert ids == ref.token_ids(text_, vocab, do_lower_case), repr(text_)


def test_vocab_errors(tmp_path):
    with pytest.raises(BertkitError, match="missing.txt"):
        Tokenizer(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(BertkitError, match="empty.txt.*empty"):
        Tokenizer(empty)
    no_sep = tmp_path / "no_sep.txt"
    no_sep.write_text("[PAD]\n[UNK]\n[CLS]\nhello\n")
    with pytest.raises(BertkitError, match=r"no_sep.txt.*\[SEP\]"):
        Tokenizer(no_sep)


def test_load_vocab_like_official(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("[PAD]\r\n[UNK] \n[CLS]\n[SEP]\nhello\nhello\n\nlast".encode("utf-8"))
    assert load_vocab(path) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "hello", "", "last"]
    tokenizer = Tokenizer(path)
    assert tokenizer.convert_tokens_to_ids(["hello"]) == [5]  # a repeated token keeps its last id
    assert tokenizer(["hello last"]).to_list() == [[5, 7]]


def test_odd_vocab_entries(tmp_path):
    """Tokens no word can match (spaces, punctuation inside, > 100 characters) are harmless."""
    path = tmp_path / "vocab.txt"
    odd = ["a b", "x" * 300, "##", "#", "a.b", "##.", "  "]
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "x", "##x", ".", "hello"] + odd) + "\n")
    tokenizer = Tokenizer(path)
    for text_ in ["a b hello ## " + "x" * 300, "a.b x.x ##x #", "xxxx"]:
        assert tokenizer.tokenize(text_) == ref.tokenize(text_, ref.load_vocab(path))


def test_normalizer_model_roundtrip():
    """The darts-clone trie reads back every key (as the C++ kernel would) and the kernel uses it."""
    rng = random.Random(0)
    chars = {chr(cp) for cp in rng.sample(range(1, 0x30000), 3000) if not 0xD800 <= cp <= 0xDFFF}
    mapping = {ch: rng.choice(["", "x", "yz", "\u00e9"]) for ch in chars}
    values, _ = normalizer_model.encode_values(mapping)
    trie = normalizer_model.build_trie(values)
    assert all(normalizer_model.lookup(trie, key) == value for key, value in values.items())
    assert normalizer_model.lookup(trie, "\U0002ffff".encode()) is None or "\U0002ffff" in chars

    model = normalizer_model.build_model({"a": "", "b": "xyz", "\u00e9": "e", "\x00": ""})
    normalizer = text.FastBertNormalizer(model_buffer=model)
    assert normalizer.normalize(tf.constant(["ab\u00e9 c\x00d"])).numpy().tolist() == [b"xyze cd"]


def test_fast_path_classification_matches_official():
    """FastWordpieceTokenizer splits on whitespace / punctuation / CJK exactly where the official
    code does, for every character the fast path can hand it (assigned in Python's Unicode)."""
    wordpiece = text.FastWordpieceTokenizer(vocab=["[UNK]", "x"], token_out_type=tf.int32)
    chars = [
        chr(cp) for cp in range(1, 0x110000)
        if not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cc", "Cf")
    ]
    counts = wordpiece.tokenize(tf.constant(["x" + ch + "x" for ch in chars])).row_lengths().numpy()
    expected = np.array([
        2 if ref.is_whitespace(ch) or ch.isspace() else 3 if ref.is_punctuation(ch) or ref.is_cjk(ord(ch)) else 1
        for ch in chars
    ])
    assert [f"U+{ord(ch):04X}" for ch in np.array(chars)[counts != expected]] == []
    # Unassigned and private-use characters reach it unchanged and must stay in their word or at least
    # yield [UNK]: never silently vanish as whitespace (newer ICU may call some of them punctuation; a
    # text holding one is [UNK] then, and goes to the exact path).
    unassigned = [chr(cp) for cp in range(1, 0x110000) if unicodedata.category(chr(cp)) in ("Cn", "Co")]
    counts = wordpiece.tokenize(tf.constant(["x" + ch + "x" for ch in unassigned])).row_lengths().numpy()
    assert (counts != 2).all()
