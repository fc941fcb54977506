"""BertEncoder behaviour and the weight loaders, on tiny models."""

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf

from bertkit.core.config import EncoderConfig
from bertkit.modeling.encoder import BertEncoder
from bertkit.core.errors import BertkitError
from bertkit.weights import FORMATS, detect_format, load_pretrained, save_hf

TINY_HF = Path(__file__).parent / "golden" / "tiny_bert_hf"
CONFIG = EncoderConfig(vocab_size=30, hidden_size=16, num_layers=2, num_heads=4, intermediate_size=32,
                       max_position_embeddings=24)


def make_inputs(ids, mask=None, types=None):
    ids = np.asarray(ids, dtype=np.int32)  # [B, T]
    return {
        "input_word_ids": ids,
        "input_mask": np.ones_like(ids) if mask is None else np.asarray(mask, dtype=np.int32),
        "input_type_ids": np.zeros_like(ids) if types is None else np.asarray(types, dtype=np.int32),
    }


def random_ids(batch, length, seed=0):
    return np.random.default_rng(seed).integers(1, CONFIG.vocab_size, (batch, length))


@pytest.fixture
def encoder():
    keras.utils.set_random_seed(0)
    return BertEncoder(CONFIG)


@pytest.fixture
def mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def copy_tiny(tmp_path, **edits):
    """Copies the tiny HF model to tmp_path; `edits` maps tensor name -> new array (None: delete)."""
    folder = tmp_path / "model"
    shutil.copytree(TINY_HF, folder)
    tensors = safetensors.numpy.load_file(str(folder / "model.safetensors"))
    for name, value in edits.items():
        if value is None:
            del tensors[name]
        else:
            tensors[name] = value
    safetensors.numpy.save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


# --- the encoder -----------------------------------------------------------------------------


def test_output_names_shapes_and_dtypes(encoder):
    out = encoder(make_inputs(random_ids(3, 7)))
    assert set(out) == {"sequence_output", "pooled_output"}
    assert out["sequence_output"].shape == (3, 7, 16) and out["sequence_output"].dtype == tf.float32
    assert out["pooled_output"].shape == (3, 16) and out["pooled_output"].dtype == tf.float32
    assert encoder.config is CONFIG


def test_variable_names_are_readable(encoder):
    names = encoder.named_variables()
    assert names["embeddings/word_embeddings"].shape == (30, 16)
    assert names["layer_1/attention/query/kernel"].shape == (16, 16)
    assert names["layer_0/intermediate/kernel"].shape == (16, 32)
    assert names["pooler/dense/bias"].shape == (16,)
    assert len(names) == 5 + 16 * CONFIG.num_layers + 2


def test_padding_does_not_change_unpadded_positions(encoder):
    ids = random_ids(2, 5)
    short = encoder(make_inputs(ids))
    padded_ids = np.concatenate([ids, random_ids(2, 4, seed=1)], axis=1)  # junk ids in the padding
    mask = np.concatenate([np.ones((2, 5)), np.zeros((2, 4))], axis=1)
    padded = encoder(make_inputs(padded_ids, mask))
    np.testing.assert_allclose(padded["sequence_output"][:, :5], short["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(padded["pooled_output"], short["pooled_output"], atol=1e-5)


def test_dynamic_sequence_length_in_one_graph(encoder):
    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_word_ids", "input_mask", "input_type_ids")}
    run = tf.function(lambda inputs: encoder(inputs)["sequence_output"], input_signature=[spec])
    for length in (1, 9, CONFIG.max_position_embeddings):
        assert run(make_inputs(random_ids(2, length))).shape == (2, length, 16)
    with pytest.raises(BertkitError, match="max_position_embeddings 24"):
        encoder(make_inputs(random_ids(1, CONFIG.max_position_embeddings + 1)))


def test_dropout_only_when_training():
    encoder = BertEncoder(EncoderConfig(**{**CONFIG.to_dict(), "dropout": 0.3, "attention_dropout": 0.3}))
    inputs = make_inputs(random_ids(2, 6))
    inference = [encoder(inputs)["sequence_output"].numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    np.testing.assert_array_equal(encoder(inputs, training=False)["sequence_output"], inference[0])
    trained = encoder(inputs, training=True)["sequence_output"].numpy()
    assert np.abs(trained - inference[0]).max() > 1e-2


def test_mixed_bfloat16_keeps_float32_variables_and_is_close(mixed_bfloat16):
    # The seeded random tiny HF model: its large random weights make attention non-trivial.
    reference = load_pretrained(TINY_HF)  # built under mixed_bfloat16
    inputs = make_inputs(random_ids(2, 10))
    out = reference.encoder(inputs)
    assert out["sequence_output"].dtype == tf.float32 and out["pooled_output"].dtype == tf.float32
    assert all(v.dtype == "float32" for v in reference.encoder.weights)
    layer = reference.encoder.get_layer("layer_0")
    assert layer.attention.query.compute_dtype == "bfloat16"
    assert layer.attention_layer_norm.compute_dtype == "float32"

    keras.mixed_precision.set_global_policy("float32")
    full = BertEncoder(reference.encoder_config)
    full.set_weights(reference.encoder.get_weights())
    expected = full(inputs)
    # bfloat16 keeps ~3 significant digits; measured max diff 0.04 on outputs of magnitude ~4.
    np.testing.assert_allclose(out["sequence_output"], expected["sequence_output"], atol=0.1)
    np.testing.assert_allclose(out["pooled_output"], expected["pooled_output"], atol=0.1)
    assert np.abs(out["sequence_output"] - expected["sequence_output"]).mean() < 0.02


def test_save_weights_and_saved_model_round_trip(encoder, tmp_path):
    inputs = make_inputs(random_ids(2, 6))
    expected = encoder(inputs)["pooled_output"].numpy()

    encoder.save_weights(tmp_path / "encoder.weights.h5")
    restored = BertEncoder(CONFIG)
    restored.load_weights(tmp_path / "encoder.weights.h5")
    np.testing.assert_array_equal(restored(inputs)["pooled_output"], expected)

    spec = {k: tf.TensorSpec([None, None], tf.int32, name=k) for k in inputs}
    module = tf.Module()
    module.encoder = encoder
    module.serve = tf.function(lambda inputs: encoder(inputs, training=False), input_signature=[spec])
    tf.saved_model.save(module, str(tmp_path / "saved_model"))
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))  # keep it alive: it owns the variables
    served = loaded.serve(inputs)
    np.testing.assert_allclose(served["pooled_output"], expected, atol=1e-6)


# --- the loaders -----------------------------------------------------------------------------


def test_hf_loader_reads_the_tiny_model():
    pretrained = load_pretrained(TINY_HF)
    assert pretrained.source_format == "hf_safetensors" and detect_format(TINY_HF) == "hf_safetensors"
    assert pretrained.encoder_config.num_layers == 2 and pretrained.encoder_config.hidden_size == 32
    assert pretrained.do_lower_case is True and pretrained.default_pooling == "cls"
    assert Path(pretrained.vocab_file) == TINY_HF / "vocab.txt"


def test_missing_tensor_fails_loudly(tmp_path):
    folder = copy_tiny(tmp_path, **{"encoder.layer.1.attention.self.key.bias": None})
    with pytest.raises(BertkitError, match=r"model.safetensors: missing tensor.*layer.1.attention.self.key.bias"):
        load_pretrained(folder)


def test_extra_tensor_fails_loudly(tmp_path):
    folder = copy_tiny(tmp_path, **{"encoder.layer.0.attention.self.rotary.weight": np.zeros(3, np.float32)})
    with pytest.raises(BertkitError, match=r"model.safetensors: unexpected tensor.*rotary"):
        load_pretrained(folder)


def test_misshaped_tensor_fails_loudly(tmp_path):
    folder = copy_tiny(tmp_path, **{"encoder.layer.0.intermediate.dense.weight": np.zeros((64, 31), np.float32)})
    with pytest.raises(BertkitError, match=r"model.safetensors: tensor encoder.layer.0.intermediate.dense.weight "
                                           r"has shape \[64, 31\]; the config implies \[64, 32\]"):
        load_pretrained(folder)


def test_prefixed_and_old_layer_norm_names_load_the_same(tmp_path):
    tensors = safetensors.numpy.load_file(str(TINY_HF / "model.safetensors"))
    renamed = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in tensors.items()}
    renamed["classifier.weight"] = np.zeros((2, 32), np.float32)  # a BertForSequenceClassification head
    renamed["bert.embeddings.position_ids"] = np.arange(64)[None]  # a buffer, ignored
    folder = tmp_path / "model"
    shutil.copytree(TINY_HF, folder)
    safetensors.numpy.save_file(renamed, str(folder / "model.safetensors"))
    inputs = make_inputs(random_ids(2, 5))
    with pytest.warns(UserWarning, match="classifier.weight"):
        prefixed = load_pretrained(folder).encoder(inputs)
    np.testing.assert_array_equal(prefixed["pooled_output"], load_pretrained(TINY_HF).encoder(inputs)["pooled_output"])


@pytest.mark.parametrize("change, message", [
    ({"model_type": "roberta"}, "model_type is 'roberta'"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ({"hidden_act": "gelu_new"}, "hidden_act 'gelu_new'"),
])
def test_unsupported_configs_are_rejected(tmp_path, change, message):
    folder = copy_tiny(tmp_path)
    edit_config(folder, **change)
    with pytest.raises(BertkitError, match=f"config.json: {message}"):
        load_pretrained(folder)


def test_casing_defaults_to_lower_with_a_warning(tmp_path):
    folder = copy_tiny(tmp_path)
    (folder / "tokenizer_config.json").unlink()
    with pytest.warns(UserWarning, match="assuming do_lower_case=True"):
        assert load_pretrained(folder).do_lower_case is True


def test_sentence_transformers_mean_pooling_is_detected(tmp_path):
    folder = copy_tiny(tmp_path)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    assert load_pretrained(folder).default_pooling == "mean"


def test_save_hf_round_trips(tmp_path):
    original = load_pretrained(TINY_HF)
    out_dir = tmp_path / "saved"
    save_hf(original.encoder, original.vocab_file, False, out_dir)
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"]
    reloaded = load_pretrained(out_dir)
    assert reloaded.encoder_config == original.encoder_config and reloaded.do_lower_case is False
    saved = safetensors.numpy.load_file(str(out_dir / "model.safetensors"))
    source = safetensors.numpy.load_file(str(TINY_HF / "model.safetensors"))
    assert set(saved) == set(source)
    for name, value in source.items():
        np.testing.assert_array_equal(saved[name], value, err_msg=name)


def test_detect_format_lists_what_it_found(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tf_model.h5").write_bytes(b"")
    with pytest.raises(BertkitError) as error:
        detect_format(tmp_path)
    message = str(error.value)
    assert "no known weight format" in message and "['config.json', 'tf_model.h5']" in message
    assert "hf_safetensors: config.json (model_type bert), model.safetensors, tokenizer.json or vocab.txt" in message
    assert "re-save them as model.safetensors" in message
    with pytest.raises(BertkitError, match="not found"):
        detect_format(tmp_path / "nope")
    assert list(FORMATS) == ["hf_safetensors", "hf_pytorch_bin", "tf1_checkpoint", "tfhub_savedmodel"]


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-6), ("bfloat16", 2e-2)])
def test_gelu_and_its_written_out_gradient_equal_autodiff(dtype, tol):
    from bertkit.modeling.encoder import _gelu

    x = tf.cast(tf.linspace(-8.0, 8.0, 4001), dtype)
    dy = tf.cast(tf.sin(tf.linspace(0.0, 50.0, 4001)), dtype)  # an upstream gradient that is not all ones
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        want, got = keras.ops.gelu(x, approximate=False), _gelu(x)
    assert got.dtype == x.dtype
    np.testing.assert_allclose(tf.cast(got, tf.float32), tf.cast(want, tf.float32), atol=tol, rtol=tol)
    g_want, g_got = (tf.cast(tape.gradient(y, x, output_gradients=dy), tf.float32) for y in (want, got))
    np.testing.assert_allclose(g_got, g_want, atol=tol, rtol=tol)
    assert float(tf.reduce_max(tf.abs(g_want))) > 1.0  # the range covers the bump above 1 near x = 1.5
