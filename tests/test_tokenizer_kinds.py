"""Every tokenizer kind against its reference (tests/tokenizer_kinds.py says which), in seconds: a real
sample of every dataset, the UDHR in 26 languages (as written and decomposed), the corner cases and
random strings over many Unicode blocks. Pass condition: identical ids for every text.

The full corpora are in tests/test_tokenizer_parity.py (slow).
"""

import json
import unicodedata

import pytest
import tensorflow as tf

from bertkit.tokenization.loading import load_tokenizer
from tests import tokenizer_kinds as tk

SAMPLE = [("imdb/test.jsonl", ["text"], 200), ("sst2/train.jsonl", ["text"], 300),
          ("rte/dev.jsonl", ["text_a", "text_b"], 100), ("mrpc/dev.jsonl", ["text_a", "text_b"], 100),
          ("sts/dev.jsonl", ["text_a", "text_b"], 100)]


@pytest.fixture(scope="session")
def kind_folders(tmp_path_factory):
    return tk.build(tmp_path_factory.mktemp("kinds"))


@pytest.fixture(scope="session")
def sample_texts(real_data_dir):
    texts = []
    for name, fields, limit in SAMPLE:
        with open(real_data_dir / name, encoding="utf-8") as f:
            for line_no, line in enumerate(f):
                if line_no >= limit:
                    break
                texts += [json.loads(line)[field] for field in fields]
    lines = tk.multilingual_lines()
    return texts + lines + [unicodedata.normalize("NFD", t) for t in lines] + list(tk.CASES.values()) \
        + tk.random_texts(1500, seed=0)


def tokenize(tokenizer, texts, batch=512):
    out = []
    for i in range(0, len(texts), batch):
        out += tokenizer(tf.constant(texts[i:i + batch])).to_list()
    return out


def differences(tokenizer, reference, texts) -> list[str]:
    expected = reference(texts)
    return [repr(t[:80]) for t, got, want in zip(texts, tokenize(tokenizer, texts), expected) if got != want]


@pytest.fixture(scope="session")
def tokenizers(kind_folders):
    cache = {}

    def get(kind):
        if kind not in kind_folders:
            pytest.skip(f"{kind}: its source is not installed (see tests/tokenizer_kinds.py)")
        if kind not in cache:
            cache[kind] = load_tokenizer(kind_folders[kind])
        return cache[kind]

    return get


@pytest.mark.parametrize("kind", tk.KINDS + ("e5_unigram",))
def test_matches_reference(kind, kind_folders, tokenizers, sample_texts):
    tokenizer = tokenizers(kind)
    assert differences(tokenizer, tk.reference(kind, kind_folders[kind]), sample_texts) == []


@pytest.mark.parametrize("kind", tk.KINDS)
def test_folder_gives_the_kind(kind, tokenizers):
    expected = {"wordpiece": "wordpiece", "hf_wordpiece": "hf_wordpiece", "hf_bpe": "hf_bpe",
                "spm_unigram": "sentencepiece", "spm_bpe": "sentencepiece"}.get(kind, "tokenizer.json")
    assert tokenizers(kind).kind == expected


def reference_offsets(kind, folder, tokenizer):
    """(word -> the reference's character span of each piece of the word tokenized alone, word -> whether
    the reference normalizes the word as its characters one by one)."""
    if kind.startswith("spm"):
        sentencepiece = pytest.importorskip("sentencepiece")
        processor = sentencepiece.SentencePieceProcessor(model_file=str(folder / "spm.model"))

        def spm_offsets(word):
            char_at = {len(word[:i].encode("utf-8")): i for i in range(len(word) + 1)}
            return [(char_at[p.begin], char_at[p.end]) for p in processor.encode(word, return_type="proto").pieces]

        return spm_offsets, lambda w: processor.normalize(w) == "".join(processor.normalize(c) for c in w)
    tokenizers = pytest.importorskip("tokenizers")
    if kind == "hf_wordpiece":
        tok = tokenizers.BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=True)
    else:
        tok = tokenizers.Tokenizer.from_file(str((folder.parent / "byte_bpe" if kind == "hf_bpe" else folder)
                                                 / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    shift = int(tokenizer.pre_tokenizer.byte_level is not None)  # words get the space they have in a text

    def hf_offsets(word):
        encoding = tok.encode(" " * shift + word, add_special_tokens=False)
        return [(max(a - shift, 0), max(b - shift, 0)) for a, b in encoding.offsets]

    normalize = tok.normalizer.normalize_str if tok.normalizer is not None else (lambda w: w)
    return hf_offsets, lambda w: normalize(w) == "".join(normalize(c) for c in w)


@pytest.mark.parametrize("kind", [k for k in tk.KINDS if k != "wordpiece"] + ["e5_unigram"])
def test_piece_spans_match_reference_offsets(kind, kind_folders, tokenizers):
    """Each piece's character span in its word (QA answers) equals the reference's offsets. The allowed
    difference: every piece spans the whole word (run_squad's fallback) when the word holds an unknown
    piece or normalizes other than character by character (composition: "o" + U+0323 -> "ọ")."""
    tokenizer = tokenizers(kind)
    words = sorted({w for line in tk.multilingual_lines()[::5] for w in line.split(" ") if w})
    words += ["\ufb01ne", "stra\u00dfe", "\u039f\u0394\u039f\u03a3", "e\u0301", "\U0001F469\u200d\U0001F467",
              "\u0130s", "\u00bd", "\uff21\uff22", "(x)", "don't", "\u0587", "\u0915\u093c"]
    ids = tokenizer.tokenize_words(tf.constant(words))
    start, end = tokenizer.piece_spans(tf.strings.unicode_decode(tf.constant(words), "UTF-8"), ids)
    start, end, splits = start.numpy().tolist(), end.numpy().tolist(), ids.row_splits.numpy()
    offsets, per_character = reference_offsets(kind, kind_folders[kind], tokenizer)
    wrong, composed = [], 0
    for i, word in enumerate(words):
        got = list(zip(start[splits[i]:splits[i + 1]], end[splits[i]:splits[i + 1]]))
        if got != offsets(word):
            unknown = tokenizer.unk_id in ids[i].numpy().tolist()
            composed += not unknown
            if not ((unknown or not per_character(word)) and all(span == (0, len(word)) for span in got)):
                wrong.append((word, got, offsets(word)))
    assert wrong == [] and composed < len(words) * 0.05


ROUND_TRIP = ["Hello world, this is a test!", "", "Ça m'a plu — 素晴らしい 🎬", "a\x00b <mask> [CLS] <s>"]


@pytest.mark.parametrize("kind", tk.KINDS)
def test_graph_data_savedmodel_and_bundle_round_trip(kind, tokenizers, tmp_path):
    """Same ids eagerly, in a tf.function, in tf.data, from a reloaded SavedModel and after the tokenizer
    is saved (its files + tokenizer_config.json, as a bundle holds it) and rebuilt."""
    from bertkit.tokenization.loading import load_tokenizer as load

    tokenizer = tokenizers(kind)
    texts = ROUND_TRIP + tk.multilingual_lines()[::200]
    eager = tokenizer(texts).to_list()
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(3).map(tokenizer, num_parallel_calls=2)
    assert [row for batch in ds for row in batch.to_list()] == eager

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.tables = tokenizer.resources()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, batch):
            ids = tokenizer(batch)
            return {"values": ids.flat_values, "splits": ids.row_splits}

    tf.saved_model.save(Serving(), str(tmp_path / "serving"))
    out = tf.saved_model.load(str(tmp_path / "serving"))(tf.constant(texts))
    assert tf.RaggedTensor.from_row_splits(out["values"], out["splits"]).to_list() == eager
    (tmp_path / "saved").mkdir()
    tokenizer.save(tmp_path / "saved")
    again = load(tmp_path / "saved")
    assert again.kind == tokenizer.kind and again.template == tokenizer.template
    assert again(texts).to_list() == eager and again.vocab == tokenizer.vocab


@pytest.mark.parametrize("kind", tk.KINDS)
def test_invalid_utf8_as_the_reference_reads_bytes(kind, kind_folders, tokenizers):
    """Bytes that are not UTF-8 (a str never is): Google's tokenizer drops them (`convert_to_unicode`,
    errors="ignore"), sentencepiece encodes the bytes as they are, Hugging Face takes str, so bertkit gives
    what it gives for `bytes.decode(errors="replace")` (one U+FFFD per maximal invalid subsequence)."""
    import random

    rng = random.Random(5)
    pool = [b"ab", b" ", b"\xff", b"\xfe", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xc3", "é".encode(),
            "中".encode(), b"\xf0\x9f\x98", b"<mask>", b"x"]
    raw = [b"".join(rng.choice(pool) for _ in range(rng.randint(0, 8))) for _ in range(300)]
    reference = tk.reference(kind, kind_folders[kind])
    if kind.startswith("spm") or kind == "wordpiece":
        expected = reference(raw)
    else:
        expected = reference([r.decode("utf-8", errors="replace") for r in raw])
    assert tokenizers(kind)(tf.constant(raw)).to_list() == expected
