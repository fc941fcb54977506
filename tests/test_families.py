"""The BERT family beyond BERT against Hugging Face transformers + PyTorch.

Goldens come from `scripts/make_golden_families.py` (tiny seeded random models of each family, weights
re-drawn large so every tensor's mapping shows) and `scripts/make_golden_buckets.py`, both run with torch
2.13 and transformers 5.24 in a separate venv, never in bertkit's. Outputs are compared on real (not padded)
positions at rtol 1e-5, atol 1e-5 (float32 against float32). The real all-MPNet-base-v2 check is opt-in
(`make mpnet`, then BERTKIT_MPNET=DIR): its 404 MB are not part of the default install.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bertkit.core.errors import BertkitError
from bertkit.modeling.deberta import log_bucket_positions
from bertkit.modeling.encoder import relative_buckets
from bertkit.weights.hf_families import FAMILIES
from bertkit.weights.hf_safetensors import load_encoder, save_hf

GOLDEN = Path(__file__).parent / "golden" / "families"
FOLDERS = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
VOCAB = Path(__file__).parent / "golden" / "tiny_bert_hf" / "vocab.txt"


def outputs(encoder, golden):
    ids = np.array(golden["input_ids"], np.int32)
    mask = np.array(golden["attention_mask"], np.int32)
    types = np.array(golden.get("token_type_ids", np.zeros_like(ids)), np.int32)
    out = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}, training=False)
    return {k: v.numpy() for k, v in out.items()}, mask.astype(bool)


@pytest.mark.parametrize("folder", FOLDERS)
def test_family_matches_transformers(folder):
    golden = json.loads((GOLDEN / folder / "golden.json").read_text())
    encoder = load_encoder(GOLDEN / folder)
    assert encoder.config.model_type == golden["model_type"]
    out, real = outputs(encoder, golden)
    want = np.array(golden["last_hidden_state"])
    np.testing.assert_allclose(out["sequence_output"][real], want[real], rtol=1e-5, atol=1e-5)
    if "pooler_output" in golden:
        np.testing.assert_allclose(out["pooled_output"], golden["pooler_output"], rtol=1e-5, atol=1e-5)
    else:  # no pooler: the first position, as the family's model card pools
        np.testing.assert_array_equal(out["pooled_output"], out["sequence_output"][:, 0])


def test_every_family_has_a_golden():
    assert {json.loads((GOLDEN / f / "golden.json").read_text())["model_type"] for f in FOLDERS} == set(FAMILIES) - {"bert"}


@pytest.mark.parametrize("folder", FOLDERS)
def test_family_round_trips_through_save_hf(folder, tmp_path):
    golden = json.loads((GOLDEN / folder / "golden.json").read_text())
    encoder = load_encoder(GOLDEN / folder)
    save_hf(encoder, str(VOCAB), True, str(tmp_path / "hf"))
    again = load_encoder(tmp_path / "hf")
    assert again.config == encoder.config
    a, real = outputs(encoder, golden)
    b, _ = outputs(again, golden)
    np.testing.assert_array_equal(a["sequence_output"][real], b["sequence_output"][real])
    written = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert written["model_type"] == golden["model_type"]


def test_export_encoder_hf_writes_the_family_layout_with_its_own_tokenizer(tmp_path):
    """A RoBERTa folder with a byte-level BPE tokenizer (vocab.json + merges.txt, no vocab.txt) goes out as a
    RoBERTa HF folder carrying those files: bertkit reads back the same encoder and the same ids."""
    from bertkit.export.encoder import export_encoder
    from bertkit.weights import load_pretrained
    from tests import tokenizer_kinds as tk

    source = tmp_path / "roberta"
    source.mkdir()
    bpe = tk.train_byte_bpe(tmp_path / "bpe")
    for name in ("config.json", "model.safetensors"):
        (source / name).write_bytes((GOLDEN / "roberta" / name).read_bytes())
    for name in ("vocab.json", "merges.txt"):
        (source / name).write_bytes((bpe / name).read_bytes())
    export_encoder(source, "hf", tmp_path / "out")
    written = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert written["tokenizer_class"] == "RobertaTokenizer" and not (tmp_path / "out" / "vocab.txt").exists()
    before, after = load_pretrained(source), load_pretrained(tmp_path / "out")
    assert after.encoder_config == before.encoder_config and after.tokenizer.kind == before.tokenizer.kind
    texts = ["Héllo wörld, it's 2026!", "naïve café"]
    assert after.tokenizer(texts).to_list() == before.tokenizer(texts).to_list()
    golden = json.loads((GOLDEN / "roberta" / "golden.json").read_text())
    a, real = outputs(before.encoder, golden)
    b, _ = outputs(after.encoder, golden)
    np.testing.assert_array_equal(a["sequence_output"][real], b["sequence_output"][real])


def test_a_family_without_a_google_layout_is_refused_by_tfhub_and_tf1(tmp_path):
    from bertkit.export.encoder import export_encoder

    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((GOLDEN / "roberta" / name).read_bytes())
    (tmp_path / "vocab.txt").write_bytes(VOCAB.read_bytes())
    for fmt in ("tfhub", "tf1"):
        with pytest.raises(BertkitError, match=f"a roberta encoder has no {fmt} layout"):
            export_encoder(tmp_path, fmt, tmp_path / "out")


def test_a_tokenizer_that_types_pairs_past_the_encoders_types_is_refused(tmp_path):
    """BERT's vocab.txt (pairs typed 1) beside a RoBERTa encoder (one token type) would index past the type
    table at the first pair; training stops first, naming both."""
    import bertkit
    from tests.conftest import tiny_rows, write_jsonl

    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "model.safetensors"):
        (model / name).write_bytes((GOLDEN / "roberta" / name).read_bytes())
    (model / "vocab.txt").write_bytes(VOCAB.read_bytes())
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", tiny_rows(8, 0))
    with pytest.raises(BertkitError, match=r"model: the tokenizer types the second text of a pair 1, and the encoder "
                                           r"has 1 token type"):
        bertkit.train(data=str(tmp_path / "data"), model=str(model), output=str(tmp_path / "run"), epochs=1,
                      max_seq_length=32)


def test_relative_buckets_equal_transformers_over_every_distance():
    golden = json.loads((GOLDEN / "relative_buckets.json").read_text())
    relative = np.array(golden["relative"])  # -1024..1024, key minus query
    np.testing.assert_array_equal(relative_buckets(1024).numpy(), golden["mpnet_32_128"])
    for key, want in golden["deberta_log_bucket"].items():
        buckets, max_position = map(int, key.split(","))
        got = log_bucket_positions(buckets, max_position, 1024).numpy()  # indexed by query minus key
        np.testing.assert_array_equal(got, want)
    assert len(relative) == 2049


def test_unsupported_families_and_options_are_named(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((GOLDEN / "roberta" / "model.safetensors").read_bytes())
    for config, match in (({"model_type": "gpt2"}, "model_type 'gpt2' is not supported; bertkit loads bert, "),
                          ({"model_type": "deberta-v2", "relative_attention": True, "position_biased_input": False,
                            "share_att_key": True, "norm_rel_ebd": "layer_norm", "conv_kernel_size": 3},
                           "conv_kernel_size 3 is not supported"),
                          ({"model_type": "modernbert", "norm_bias": True}, "norm_bias True is not supported")):
        (folder / "config.json").write_text(json.dumps(config))
        with pytest.raises(BertkitError, match=match):
            load_encoder(folder)


def test_missing_tensor_is_named(tmp_path):
    import safetensors.numpy

    tensors = safetensors.numpy.load_file(str(GOLDEN / "modernbert" / "model.safetensors"))
    del tensors["layers.2.mlp.Wi.weight"]
    (tmp_path / "config.json").write_text((GOLDEN / "modernbert" / "config.json").read_text())
    safetensors.numpy.save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(BertkitError, match=r"missing tensor\(s\) \['layers.2.mlp.Wi.weight'\].*4-layer modernbert"):
        load_encoder(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("BERTKIT_MPNET"), reason="opt-in: `make mpnet`, then BERTKIT_MPNET=DIR")
def test_real_mpnet_base_matches_transformers():
    golden = json.loads((Path(__file__).parent / "golden" / "mpnet_base_encoder.json").read_text())
    encoder = load_encoder(Path(os.environ["BERTKIT_MPNET"]))
    ids, mask = np.array(golden["input_word_ids"], np.int32), np.array(golden["input_mask"], np.int32)
    out = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(ids)}, training=False)
    seq, real = out["sequence_output"].numpy(), mask.astype(bool)
    first = np.array(golden["sequence_output_first8"])
    k = first.shape[1]
    assert np.abs(seq[:, :k] - first)[real[:, :k]].max() < 1e-4
    mean = (seq * real[..., None]).sum(1) / real.sum(1)[:, None]
    assert np.abs(mean - np.array(golden["sentence_embedding"])).max() < 1e-4
