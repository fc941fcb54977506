"""Every pretrained format bertkit reads and writes, on the tiny golden BERT (2 layers, hidden 32).

The same weights written as HF safetensors, HF pytorch_model.bin (by torch itself), a Google TF1
checkpoint and a TF Hub SavedModel give the same outputs through every loader; broken copies of
each fail naming the tensor; folder detection and TF Hub handles fail with messages that say what
to do.
"""

import json
import shutil
import struct
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf

from bertkit.core.errors import BertkitError
from bertkit.export import export_encoder
from bertkit.weights.tfhub_savedmodel import save_tfhub
from bertkit.weights import detect_format, hub_handles, load_pretrained, save_tf1
from bertkit.tokenization.loading import vocab_is_uncased
from bertkit.weights.tf1_checkpoint import CHECKPOINT_PREFIX

GOLDEN = Path(__file__).parent / "golden"
TINY_HF, TINY_PT = GOLDEN / "tiny_bert_hf", GOLDEN / "tiny_bert_pt"
TOL = 1e-5


def tiny_inputs():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 74, (3, 12)).astype(np.int32)  # [B, T]
    mask = np.ones_like(ids)
    mask[1, 8:] = 0
    ids[1, 8:] = 0
    types = np.zeros_like(ids)
    types[:, 6:] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def outputs(encoder, inputs):
    return {k: v.numpy() for k, v in encoder(inputs, training=False).items()}


def max_diff(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


@pytest.fixture(scope="module")
def reference():
    pretrained = load_pretrained(TINY_HF)
    return pretrained, outputs(pretrained.encoder, tiny_inputs())


@pytest.fixture(scope="module")
def folders(reference, tmp_path_factory):
    """The tiny golden model in all four formats."""
    pretrained, _ = reference
    root = tmp_path_factory.mktemp("formats")
    save_tf1(pretrained.encoder, pretrained.vocab_file, pretrained.do_lower_case, str(root / "tf1"))
    save_tfhub(pretrained.encoder, pretrained.vocab_file, pretrained.do_lower_case, str(root / "tfhub"))
    return {"hf_safetensors": TINY_HF, "hf_pytorch_bin": TINY_PT, "tf1_checkpoint": root / "tf1",
            "tfhub_savedmodel": root / "tfhub"}


@pytest.mark.parametrize("fmt", ["hf_safetensors", "hf_pytorch_bin", "tf1_checkpoint", "tfhub_savedmodel"])
def test_every_format_gives_the_same_outputs(fmt, folders, reference):
    original, expected = reference
    assert detect_format(folders[fmt]) == fmt
    loaded = load_pretrained(folders[fmt])
    assert loaded.source_format == fmt
    assert loaded.encoder_config.to_dict() == original.encoder_config.to_dict()
    assert loaded.do_lower_case is True
    assert Path(loaded.vocab_file).read_text() == Path(original.vocab_file).read_text()
    got = outputs(loaded.encoder, tiny_inputs())
    assert max_diff(got["sequence_output"], expected["sequence_output"]) <= TOL
    assert max_diff(got["pooled_output"], expected["pooled_output"]) <= TOL


def test_tfhub_export_runs_both_hub_interfaces(folders, reference):
    _, expected = reference
    inputs = tiny_inputs()
    hub = tf.saved_model.load(str(folders["tfhub_savedmodel"]))
    pooled, sequence = hub([tf.constant(inputs[k]) for k in ("input_word_ids", "input_mask", "input_type_ids")])
    assert max_diff(pooled, expected["pooled_output"]) <= TOL
    assert max_diff(sequence, expected["sequence_output"]) <= TOL
    out = hub({k: tf.constant(v) for k, v in inputs.items()}, training=False)  # the v3+ dict interface
    assert max_diff(out["sequence_output"], expected["sequence_output"]) <= TOL
    assert len(out["encoder_outputs"]) == 2 and max_diff(out["encoder_outputs"][-1], out["sequence_output"]) == 0
    names = sorted(v.name for v in hub.trainable_variables)
    assert "transformer/layer_1/self_attention/query/kernel:0" in names and len(names) == 5 + 16 * 2 + 2
    assert Path(hub.vocab_file.asset_path.numpy().decode()).name == "vocab.txt"
    assert bool(hub.do_lower_case.numpy()) is True


def test_tfhub_variables_have_model_garden_shapes(folders):
    hub = tf.saved_model.load(str(folders["tfhub_savedmodel"]))
    shapes = {v.name: tuple(v.shape) for v in hub.variables}
    assert shapes["transformer/layer_0/self_attention/query/kernel:0"] == (32, 4, 8)  # [H, N, D]
    assert shapes["transformer/layer_0/self_attention/attention_output/kernel:0"] == (4, 8, 32)  # [N, D, H]
    assert shapes["position_embedding/embeddings:0"] == (64, 32)


def test_tf1_checkpoint_uses_google_names(folders):
    reader = tf.train.load_checkpoint(str(folders["tf1_checkpoint"] / CHECKPOINT_PREFIX))
    names = reader.get_variable_to_shape_map()
    assert names["bert/encoder/layer_1/attention/self/query/kernel"] == [32, 32]
    assert names["bert/embeddings/LayerNorm/gamma"] == [32]
    config = json.loads((folders["tf1_checkpoint"] / "bert_config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["num_attention_heads"] == 4


def test_every_encoder_variable_trains_through_a_tfhub_folder(folders):
    from bertkit.modeling.heads import PooledHead

    pretrained = load_pretrained(folders["tfhub_savedmodel"])
    model = PooledHead(pretrained.encoder, units=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tiny_inputs(), training=True) ** 2)
    variables = pretrained.encoder.named_variables()
    grads = dict(zip(variables, tape.gradient(loss, list(variables.values()))))
    assert all(g is not None for g in grads.values())
    # Softmax ignores a shift shared by all keys: the key biases' true gradient is zero in any BERT.
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for name, g in grads.items() if "key/bias" not in name)


# --- broken fixtures: missing, unexpected and mis-shaped tensors, per loader -------------------------

def _edit(tensors, kind, name, extra):
    tensors = dict(tensors)
    if kind == "missing":
        del tensors[name]
    elif kind == "extra":
        tensors[extra] = np.zeros((3,), np.float32)
    else:
        tensors[name] = np.zeros(tensors[name].shape[:-1] + (tensors[name].shape[-1] + 1,), np.float32)
    return tensors


def broken_hf_safetensors(tmp, kind):
    folder = tmp / "hf"
    shutil.copytree(TINY_HF, folder)
    tensors = safetensors.numpy.load_file(str(folder / "model.safetensors"))
    tensors = _edit(tensors, kind, "encoder.layer.1.output.dense.bias", "encoder.layer.1.extra.bias")
    safetensors.numpy.save_file(tensors, str(folder / "model.safetensors"))
    return folder, "encoder.layer.1.output.dense.bias" if kind != "extra" else "encoder.layer.1.extra.bias"


def torch_zip(path: Path, tensors: dict, prefix="archive", pickled: bytes | None = None):
    """Writes tensors as torch.save does (protocol-2 pickle + raw storages), without torch."""
    def glob(module, name):
        return b"c" + f"{module}\n{name}\n".encode()

    def text(s):
        return b"X" + struct.pack("<I", len(s.encode())) + s.encode()

    def ints(values):
        return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"

    body = b"\x80\x02" + glob("collections", "OrderedDict") + b")R("
    storages = {}
    for i, (name, value) in enumerate(tensors.items()):
        value = np.ascontiguousarray(value, np.float32)
        storages[str(i)] = value.tobytes()
        stride = [int(s // 4) for s in value.strides]
        body += text(name) + glob("torch._utils", "_rebuild_tensor_v2") + b"("
        body += b"(" + text("storage") + glob("torch", "FloatStorage") + text(str(i)) + text("cpu")
        body += b"J" + struct.pack("<i", value.size) + b"tQ"
        body += b"J" + struct.pack("<i", 0) + ints(value.shape) + ints(stride) + b"\x89"
        body += glob("collections", "OrderedDict") + b")Rt" + b"R"
    body += b"u."
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{prefix}/data.pkl", pickled if pickled is not None else body)
        for key, raw in storages.items():
            archive.writestr(f"{prefix}/data/{key}", raw)
        archive.writestr(f"{prefix}/version", "3\n")


def broken_hf_pytorch_bin(tmp, kind):
    folder = tmp / "pt"
    shutil.copytree(TINY_PT, folder)
    tensors = safetensors.numpy.load_file(str(TINY_HF / "model.safetensors"))
    tensors = _edit(tensors, kind, "encoder.layer.0.attention.self.key.weight", "encoder.layer.0.extra.weight")
    torch_zip(folder / "pytorch_model.bin", tensors)
    return folder, "encoder.layer.0.attention.self.key.weight" if kind != "extra" else "encoder.layer.0.extra.weight"


def broken_tf1_checkpoint(tmp, kind, source):
    folder = tmp / "tf1"
    shutil.copytree(source, folder)
    reader = tf.train.load_checkpoint(str(folder / CHECKPOINT_PREFIX))
    tensors = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
    name, extra = "bert/encoder/layer_1/intermediate/dense/kernel", "bert/encoder/layer_1/extra/kernel"
    tensors = _edit(tensors, kind, name, extra)
    for f in folder.glob(f"{CHECKPOINT_PREFIX}.*"):
        f.unlink()
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(folder / CHECKPOINT_PREFIX), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tensors[n] for n in names])
    return folder, name if kind != "extra" else extra


def broken_tfhub_savedmodel(tmp, kind, source):
    """A SavedModel with the TF Hub attributes and edited variables (no functions needed to load it)."""
    from bertkit.weights.tfhub_savedmodel import SavedModelContents

    contents = SavedModelContents(source)
    tensors = contents.float_variables()
    name, extra = "transformer/layer_1/self_attention/value/kernel", "transformer/layer_1/extra/kernel"
    tensors = _edit(tensors, kind, name, extra)
    root = tf.train.Checkpoint()
    root.weights = {k: tf.Variable(v, name=k) for k, v in tensors.items()}
    root.vocab_file = tf.saved_model.Asset(str(contents.vocab_file()))
    root.do_lower_case = tf.Variable(True, trainable=False)
    tf.saved_model.save(root, str(tmp / "hub"))
    return tmp / "hub", name if kind != "extra" else extra


@pytest.mark.parametrize("kind", ["missing", "extra", "misshaped"])
@pytest.mark.parametrize("fmt", ["hf_safetensors", "hf_pytorch_bin", "tf1_checkpoint", "tfhub_savedmodel"])
def test_broken_checkpoints_fail_naming_the_tensor(fmt, kind, folders, tmp_path):
    if fmt == "hf_safetensors":
        folder, name = broken_hf_safetensors(tmp_path, kind)
    elif fmt == "hf_pytorch_bin":
        folder, name = broken_hf_pytorch_bin(tmp_path, kind)
    elif fmt == "tf1_checkpoint":
        folder, name = broken_tf1_checkpoint(tmp_path, kind, folders[fmt])
    else:
        folder, name = broken_tfhub_savedmodel(tmp_path, kind, folders[fmt])
    assert detect_format(folder) == fmt
    expected = {"missing": "missing tensor", "extra": "unexpected tensor", "misshaped": "has shape"}[kind]
    with pytest.raises(BertkitError, match=expected) as error:
        load_pretrained(folder)
    assert name in str(error.value)


def test_torch_free_writer_matches_torch_and_reader_handles_strides_and_parameters():
    from bertkit.weights.hf_pytorch_bin import read_state_dict

    real = read_state_dict(TINY_PT / "pytorch_model.bin")  # written by torch.save itself
    source = safetensors.numpy.load_file(str(TINY_HF / "model.safetensors"))
    assert set(real) == {f"bert.{k}" for k in source}
    for name, value in source.items():  # incl. a column-major view and an nn.Parameter
        np.testing.assert_array_equal(real[f"bert.{name}"], value, err_msg=name)


def test_pytorch_bin_refuses_code_and_old_format(tmp_path):
    from bertkit.weights.hf_pytorch_bin import read_state_dict

    marker = tmp_path / "pwned"
    evil = b"\x80\x02cposix\nsystem\n(X" + struct.pack("<I", len(f"touch {marker}")) + f"touch {marker}".encode()
    torch_zip(tmp_path / "evil.bin", {}, pickled=evil + b"tR.")
    with pytest.raises(BertkitError, match="refusing to unpickle posix.system"):
        read_state_dict(tmp_path / "evil.bin")
    assert not marker.exists()
    (tmp_path / "old.bin").write_bytes(b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.")  # legacy magic number
    with pytest.raises(BertkitError, match="non-zip.*model.safetensors"):
        read_state_dict(tmp_path / "old.bin")


# --- folder detection, casing, handles ----------------------------------------------------------------

@pytest.mark.parametrize("files, hint", [
    ({"tfhub_module.pb": b""}, "TF1 Hub module"),
    ({"saved_model.pb": b""}, "needs its variables/ folder"),
    ({"bert_model.ckpt.index": b""}, "needs bert_config.json"),
])
def test_detect_format_names_what_it_found(tmp_path, files, hint):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(BertkitError) as error:
        detect_format(tmp_path)
    message = str(error.value)
    assert "no known weight format" in message and hint in message and list(files)[0] in message
    assert "tfhub_savedmodel: saved_model.pb" in message and "tf1_checkpoint: bert_config.json" in message


def test_archive_is_named_with_how_to_unpack(tmp_path):
    (tmp_path / "uncased_L-2_H-128_A-2.zip").write_bytes(b"PK")
    with pytest.raises(BertkitError, match="unpack it first"):
        load_pretrained(tmp_path / "uncased_L-2_H-128_A-2.zip")


def test_casing_follows_the_vocabulary(tmp_path):
    (tmp_path / "cased.txt").write_text("[PAD]\n[UNK]\nthe\nThe\n##s\n")
    (tmp_path / "uncased.txt").write_text("[PAD]\n[UNK]\nthe\n##s\n")
    assert vocab_is_uncased(tmp_path / "uncased.txt") and not vocab_is_uncased(tmp_path / "cased.txt")


HANDLE = "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/2"


def test_hub_handle_offline_fails_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(hub_handles, "_reachable", lambda host, *a, **k: False)
    import tensorflow_hub  # noqa: F401  (its first import is slow; only the failure is timed)

    start = time.perf_counter()
    with pytest.raises(BertkitError) as error:
        load_pretrained(HANDLE)
    assert time.perf_counter() - start < 2
    message = str(error.value)
    assert "cannot reach tfhub.dev" in message and "--model path/to/folder" in message


def test_hub_handle_in_cache_needs_no_network(monkeypatch, tmp_path, folders):
    import hashlib

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    shutil.copytree(folders["tfhub_savedmodel"], tmp_path / hashlib.sha1(HANDLE.encode()).hexdigest())

    def no_network(*args, **kwargs):
        raise AssertionError("network used for a cached handle")

    monkeypatch.setattr(hub_handles, "_reachable", no_network)
    assert load_pretrained(HANDLE).source_format == "tfhub_savedmodel"


def test_hub_handle_without_tensorflow_hub_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)
    with pytest.raises(BertkitError, match=r"bertkit\[hub\].*--model path/to/folder"):
        detect_format(HANDLE)


# --- export-encoder ------------------------------------------------------------------------------------

def test_cli_exports_any_format_to_any_format(folders, reference, tmp_path, capsys):
    from bertkit.cli import main

    _, expected = reference
    assert main(["export-encoder", "--model", str(folders["tf1_checkpoint"]), "--format", "hf",
                 "--output", str(tmp_path / "hf")]) == 0
    assert "wrote the hf encoder" in capsys.readouterr().out
    got = outputs(load_pretrained(tmp_path / "hf").encoder, tiny_inputs())
    assert max_diff(got["pooled_output"], expected["pooled_output"]) <= TOL
    assert main(["export-encoder", "--model", str(tmp_path / "nope"), "--format", "tfhub",
                 "--output", str(tmp_path / "x")]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_fine_tuned_bundle_exports_its_encoder(reference, tmp_path):
    """A bundle as `bertkit train` saves it (here with shifted encoder weights instead of a training run)."""
    from bertkit.api import BertkitModel
    from bertkit.core.config import PreprocessConfig, TaskConfig
    from bertkit.tasks import get_task_class
    from bertkit.tokenization.wordpiece import Tokenizer

    pretrained = load_pretrained(TINY_HF)
    rng = np.random.default_rng(3)
    for variable in pretrained.encoder.trainable_variables:  # stands in for fine-tuning
        variable.assign(variable.numpy() + rng.normal(0, 0.01, variable.shape).astype(np.float32))
    preprocess = PreprocessConfig(do_lower_case=True, max_seq_length=16)
    task = get_task_class("classify")(TaskConfig(labels=("0", "1")), preprocess,
                                      Tokenizer(pretrained.vocab_file, True))
    model = task.build_model(pretrained.encoder)
    model(tiny_inputs(), training=False)
    BertkitModel(model, task, pretrained.encoder_config, None).save(tmp_path / "run" / "model")

    out = export_encoder(tmp_path / "run", "tfhub", tmp_path / "hub")
    exported = load_pretrained(out)
    got, want = outputs(exported.encoder, tiny_inputs()), outputs(pretrained.encoder, tiny_inputs())
    assert max_diff(got["pooled_output"], want["pooled_output"]) <= TOL
    assert max_diff(got["sequence_output"], want["sequence_output"]) <= TOL
    assert max_diff(got["pooled_output"], reference[1]["pooled_output"]) > 1e-4  # it is the fine-tuned one


@pytest.mark.slow  # ~20 s (a 90 MB export); the tiny model covers the same path in the fast suite
def test_real_minilm_round_trips_hf_to_tfhub(tmp_path):
    """all-MiniLM-L6-v2: HF -> native -> TF Hub export -> load, and the export's own graph, agree."""
    from bertkit.tokenization.packing import pack_inputs
    from bertkit.tokenization.wordpiece import Tokenizer
    from bertkit.weights import default_model_path

    hf = load_pretrained(default_model_path())
    tok = Tokenizer(hf.vocab_file, hf.do_lower_case)
    texts = tf.constant(["That movie was absolutely awful", "Absolutely fantastic, a creative surprise!"])
    inputs = pack_inputs(tok(texts), None, 16, cls_id=tok.cls_id, sep_id=tok.sep_id)
    expected = outputs(hf.encoder, inputs)
    folder = export_encoder(default_model_path(), "tfhub", tmp_path / "minilm")
    reloaded = load_pretrained(folder)
    assert reloaded.encoder_config.to_dict() == hf.encoder_config.to_dict()
    got = outputs(reloaded.encoder, inputs)
    hub_pooled, hub_sequence = tf.saved_model.load(str(folder))([inputs[k] for k in
                                                                  ("input_word_ids", "input_mask", "input_type_ids")])
    for name, value in (("pooled_output", hub_pooled), ("sequence_output", hub_sequence)):
        assert max_diff(got[name], expected[name]) <= TOL
        assert max_diff(value, expected[name]) <= TOL
