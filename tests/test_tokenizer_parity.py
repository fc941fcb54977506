"""Slow: every tokenizer kind against its reference on every text of the shared data, the UDHR in 26
languages (as written and NFD), the corner cases, 50,000 random strings and three 1 MB texts. Pass
condition: zero differing texts. `scripts/tokenizer_parity.py` prints the same comparison as the table
of docs/tokenizer_parity.md."""

import pytest

from bertkit.tokenization.loading import load_tokenizer
from tests import tokenizer_kinds as tk
from tests.test_tokenizer_kinds import tokenize

pytestmark = pytest.mark.slow

# Explained differences (docs/tokenizer_parity.md): tensorflow-text's FastSentencepieceTokenize sums the unigram
# lattice in float32, sentencepiece in double; over a 1 MB text of real English the sums of near-tied
# segmentations drift apart and a few pieces come out differently. {(kind, corpus): (text index, max id count gap)}
KNOWN = {("spm_unigram", "1MB"): (0, 10)}


@pytest.fixture(scope="module")
def kind_folders(tmp_path_factory):
    return tk.build(tmp_path_factory.mktemp("kinds"))


@pytest.fixture(scope="module")
def all_texts(real_data_dir):
    return tk.corpora(real_data_dir)


@pytest.mark.parametrize("kind", tk.KINDS + ("e5_unigram",))
def test_every_corpus(kind, kind_folders, all_texts):
    if kind not in kind_folders:
        pytest.skip(f"{kind}: its source is not installed")
    tokenizer, reference = load_tokenizer(kind_folders[kind]), tk.reference(kind, kind_folders[kind])
    differing = {}
    for name, texts in all_texts.items():
        batch = 8 if name == "1MB" else 512
        got, want = tokenize(tokenizer, texts, batch), reference(texts)
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        if (kind, name) in KNOWN:
            index, gap = KNOWN[kind, name]
            assert bad in ([], [index]) and abs(len(got[index]) - len(want[index])) <= gap
            bad = []
        if bad:
            differing[name] = (len(bad), repr(texts[bad[0]][:100]))
    assert differing == {}
