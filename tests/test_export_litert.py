"""LiteRT export (issue 20): the .tflite runs where users run it (ai_edge_litert + tensorflow-text's registrar,
no bertkit) and gives `predict`'s answers; the server serves it; bad inputs get one clear message.

The tiny classifier of test_serving (hidden 32, bert-base-uncased vocabulary, one epoch on tiny data).
"""

import json
import shutil
import textwrap

import numpy as np
import pytest

from bertkit import cli
from bertkit.core.errors import BertkitError
from bertkit.export.config import ExportConfig
from bertkit.export.litert import export_litert, read_metadata
from bertkit.serving.config import ServeConfig
from bertkit.serving.server import start_server
from conftest import random_task_model, run_without_bertkit, tiny_rows
from test_serving import NON_ASCII, predict, real_vocab, request, run_dir  # noqa: F401 - shared fixtures

# What a user's Python needs (docs/serving.md): the interpreter and tensorflow-text's kernels, not bertkit.
FRESH_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow_text
    from ai_edge_litert.interpreter import InterpreterWithCustomOps
    model_file, texts_file, out_file = sys.argv[1:]
    interpreter = InterpreterWithCustomOps(
        model_path=model_file, custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)
    serve = interpreter.get_signature_runner("serving_default")
    texts = json.load(open(texts_file, encoding="utf-8"))
    out = serve(text=np.array([t.encode("utf-8") for t in texts], dtype=object))
    json.dump({"probabilities": out["probabilities"].tolist(), "label": [x.decode() for x in out["label"]],
               "signatures": interpreter.get_signature_list(),
               "bertkit_imported": any(m.split(".")[0] == "bertkit" for m in sys.modules)}, open(out_file, "w"))
""")


@pytest.fixture(scope="module")
def texts(real_data_dir) -> list[str]:
    """In-domain texts, real IMDB and SST-2 ones, and the edge cases (empty, non-ASCII, very long)."""
    rows = [json.loads(line) for line in (real_data_dir / "imdb" / "test.jsonl").open(encoding="utf-8")][:40]
    sst2 = [json.loads(line)["text"] for line in (real_data_dir / "sst2" / "test.jsonl").open(encoding="utf-8")][:40]
    return ([r["text"] for r in tiny_rows(40, 5)] + [r["text"] for r in rows] + sst2
            + ["", "   ", NON_ASCII, max((r["text"] for r in rows), key=len) * 3])


@pytest.fixture(scope="module")
def exports(run_dir, tmp_path_factory):  # noqa: F811 - the fixture imported above
    """`bertkit export --format litert` of the run, unquantized and int8 (calibrated on 32 of its 48 rows)."""
    root = tmp_path_factory.mktemp("litert")
    for quantize in ("none", "int8"):
        assert cli.main(["export", "--model", str(run_dir), "--format", "litert", "--quantize", quantize,
                         "--calibration-samples", "32", "--output", str(root / f"{quantize}.tflite")]) == 0
    return root


def _fresh(tmp_path, model_file, texts):
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    return run_without_bertkit(tmp_path, FRESH_SCRIPT, model_file, tmp_path / "texts.json")


def test_float_tflite_equals_predict_without_bertkit(exports, run_dir, texts, tmp_path):  # noqa: F811
    import bertkit

    got = _fresh(tmp_path, exports / "none.tflite", texts)
    expected = bertkit.load(run_dir).predictions(texts)
    assert got["signatures"] == {"serving_default": {"inputs": ["text"], "outputs": ["label", "probabilities"]}}
    assert np.abs(np.asarray(got["probabilities"]) - expected["probabilities"]).max() <= 1e-4
    assert got["label"] == list(expected["label"])
    info = read_metadata(exports / "none.tflite")
    assert info["task"] == "classify" and info["labels"] == ["0", "1"] and info["quantize"] == "none"


def test_int8_tflite_gives_predicts_labels(exports, run_dir, texts, tmp_path):  # noqa: F811
    import bertkit

    got = _fresh(tmp_path, exports / "int8.tflite", texts)
    expected = bertkit.load(run_dir).predictions(texts)
    same = np.mean(np.asarray(got["label"]) == expected["label"])
    assert same >= 0.99, f"int8 agrees with predict on {same:.1%} of {len(texts)} texts"
    # The weights shrink 4x; the tokenizer's tables (vocabulary, normalizer), about half of this tiny model, do not.
    assert (exports / "int8.tflite").stat().st_size < 0.6 * (exports / "none.tflite").stat().st_size


@pytest.mark.slow  # two more conversions; int8 above covers the quantized path in the fast suite
def test_dynamic_int8_and_float16_run(run_dir, texts, tmp_path):  # noqa: F811
    import bertkit

    expected = bertkit.load(run_dir).predictions(texts)["label"]
    for quantize in ("dynamic-int8", "float16"):
        out = export_litert(run_dir, tmp_path / f"{quantize}.tflite", ExportConfig(format="litert", quantize=quantize))
        got = _fresh(tmp_path, out, texts)
        assert np.mean(np.asarray(got["label"]) == expected) >= 0.99, quantize


def test_serve_tflite_answers_as_the_interpreter(exports, texts):
    with start_server(exports / "none.tflite", ServeConfig(port=0)) as server:
        status, body = predict(server, {"instances": texts[:8]})
        assert status == 200
        from bertkit.export.litert import LiteRTModel

        direct = LiteRTModel(exports / "none.tflite").run({"text": texts[:8]})
        assert [p["label"] for p in body["predictions"]] == [x.decode() for x in direct["label"]]
        np.testing.assert_allclose([p["probabilities"] for p in body["predictions"]], direct["probabilities"],
                                   atol=1e-6)
        status, meta = request(server, "GET", "/v1/models/default/metadata")
        signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert status == 200 and sorted(signature["outputs"]) == ["label", "probabilities"]
        status, model = request(server, "GET", "/bertkit/model")
        assert model["task"] == "classify" and model["labels"] == ["0", "1"]


def test_serve_rejects_what_is_not_a_bertkit_tflite(exports, run_dir, tmp_path):  # noqa: F811
    with pytest.raises(BertkitError, match="no such file"):
        start_server(tmp_path / "missing.tflite", ServeConfig(port=0))
    (tmp_path / "folder.tflite").mkdir()
    with pytest.raises(BertkitError, match="is a folder, not a .tflite file"):
        start_server(tmp_path / "folder.tflite", ServeConfig(port=0))
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer at all")
    with pytest.raises(BertkitError, match="not a LiteRT"):
        start_server(tmp_path / "junk.tflite", ServeConfig(port=0))
    (tmp_path / "vocab.txt").write_text("[PAD]\n")  # any other file
    with pytest.raises(BertkitError, match="not a LiteRT"):
        start_server(tmp_path / "vocab.txt", ServeConfig(port=0))
    foreign = tmp_path / "foreign.tflite"  # a real .tflite without bertkit's metadata
    flat = (exports / "none.tflite").read_bytes()
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flat))
    model.metadata = [m for m in model.metadata if m.name != b"bertkit_export" and m.name != "bertkit_export"]
    foreign.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    with pytest.raises(BertkitError, match="without bertkit's metadata"):
        start_server(foreign, ServeConfig(port=0))


def test_export_errors_name_the_flag(run_dir, tmp_path, capsys):  # noqa: F811
    assert cli.main(["export", "--model", str(run_dir), "--format", "litert", "--quantize", "int8",
                     "--calibration-samples", "49", "--output", str(tmp_path / "m.tflite")]) == 2
    assert "--calibration-samples 49 is larger than the 48 examples" in capsys.readouterr().err
    (tmp_path / "dir.tflite").mkdir()
    assert cli.main(["export", "--model", str(run_dir), "--format", "litert", "--output",
                     str(tmp_path / "dir.tflite")]) == 2
    assert "is a folder; --format litert writes one file" in capsys.readouterr().err
    assert cli.main(["export", "--model", str(run_dir), "--quantize", "int8", "--output", str(tmp_path / "sm")]) == 2
    assert "--quantize int8 is for --format litert" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.tflite*")) or [p.name for p in tmp_path.iterdir()] == ["dir.tflite"]


def test_calibration_needs_recorded_data(run_dir, tmp_path):  # noqa: F811
    shutil.copytree(run_dir / "model", tmp_path / "bundle")  # a bundle alone: no history.jsonl
    with pytest.raises(BertkitError, match="--calibration-data"):
        export_litert(tmp_path / "bundle", tmp_path / "m.tflite", ExportConfig(format="litert", quantize="int8"))


def test_ner_stops_naming_the_task_and_ops(tmp_path):
    from bertkit.core.config import TaskConfig

    config = TaskConfig(task="ner", labels=("O", "B-PER", "I-PER"), label_type="str", pooling="mean",
                        extra={"scheme": "BIO", "stride": 0, "case_features": "off"})
    with pytest.raises(BertkitError, match=r"'ner' task .* RegexSplitWithOffsets.* SavedModel"):
        export_litert(random_task_model(config, 16, head="classifier"), tmp_path / "ner.tflite")
    assert not (tmp_path / "ner.tflite").exists()


@pytest.fixture(scope="module")
def kind_folders(tmp_path_factory):
    from tests import tokenizer_kinds

    return tokenizer_kinds.build(tmp_path_factory.mktemp("kinds"))


def _kind_model(folder):
    """A tiny random classifier on the tokenizer of `folder`."""
    import tensorflow as tf

    from bertkit.api import BertkitModel
    from bertkit.core.config import EncoderConfig, PreprocessConfig, TaskConfig
    from bertkit.modeling.encoder import BertEncoder
    from bertkit.tasks import get_task_class
    from bertkit.tokenization.loading import load_tokenizer

    tokenizer = load_tokenizer(folder)
    task = get_task_class("classify")(TaskConfig(task="classify", labels=("a", "b")),
                                      PreprocessConfig(max_seq_length=64), tokenizer)
    encoder = BertEncoder(EncoderConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_layers=1, num_heads=2,
                                        intermediate_size=32, max_position_embeddings=64))
    model = task.build_model(encoder)
    model({k: tf.zeros((1, 8), tf.int32) for k in task.model_input_names()})
    return BertkitModel(model, task, encoder.config, None)


def test_sentencepiece_unigram_converts_and_equals_predict(kind_folders, tmp_path):
    """tensorflow-text's FastSentencepieceTokenize has a LiteRT kernel: the kind converts as it is."""
    from bertkit.export.litert import LiteRTModel
    from tests import tokenizer_kinds

    bm = _kind_model(kind_folders["spm_unigram"])
    path = export_litert(bm, tmp_path / "spm.tflite")
    texts = tokenizer_kinds.multilingual_lines()[::40]
    got = LiteRTModel(path).run({"text": texts})
    np.testing.assert_allclose(got["probabilities"], bm.predict_scores(texts), atol=1e-4)


def test_byte_level_bpe_stops_naming_its_tables(kind_folders, tmp_path):
    with pytest.raises(BertkitError, match=r"tokenizer 'hf_bpe'.*lookup tables.*SavedModel"):
        export_litert(_kind_model(kind_folders["hf_bpe"]), tmp_path / "bpe.tflite")


TASK_CONFIGS = {"regression": dict(task="regression", extra={"target_mean": 2.5, "target_std": 1.2}),
                "pair": dict(task="classify", labels=("x", "y", "z"), is_pair=True)}


@pytest.mark.parametrize("name", sorted(TASK_CONFIGS))
def test_regression_and_pairs_equal_predict(name, tmp_path):
    from bertkit.core.config import TaskConfig
    from bertkit.export.litert import LiteRTModel

    bm = random_task_model(TaskConfig(**TASK_CONFIGS[name]), 32, head="classifier")
    path = export_litert(bm, tmp_path / f"{name}.tflite")
    a = [r["text"] for r in tiny_rows(12, 3)] + ["", NON_ASCII]
    inputs = a if name == "regression" else list(zip(a, reversed(a)))
    columns = {"text": a} if name == "regression" else {"text": a, "text_b": list(reversed(a))}
    got, expected = LiteRTModel(path).run(columns), bm.predictions(inputs)
    for output in ("score",) if name == "regression" else ("probabilities",):
        np.testing.assert_allclose(got[output], expected[output], atol=1e-4, rtol=1e-5)


@pytest.mark.slow  # the same check as NER's (test_ner_stops_naming_the_task_and_ops), on another task
def test_multilabel_stops_naming_the_string_join(tmp_path):
    """Its `labels` output joins label names with "|" (UnsortedSegmentJoin): LiteRT has no string kernels."""
    from bertkit.core.config import TaskConfig

    bm = random_task_model(TaskConfig(task="multilabel", labels=("A", "B"), extra={"threshold": 0.5}), 16,
                           head="classifier")
    with pytest.raises(BertkitError, match=r"'multilabel' task .*UnsortedSegmentJoin"):
        export_litert(bm, tmp_path / "multilabel.tflite")
