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

SAMPLE = [("imdb/test.jsonl", ["text"], 200), ("sst2/train.jsonl", ["text"], 300), ("rte/dev.jsonl", ["text_a", "text_b"], 100),
          ("mrpc/dev.jsonl", ["text_a", "text_b"], 100), ("sts/dev.jsonl", ["text_a", "text_b"], 100)]


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
