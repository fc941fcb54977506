"""bertkit.compat: the tutorial's names give exactly what bertkit's own API gives."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import reference_wordpiece as ref
from bertkit.compat import (FullTokenizer, InputExample, KerasLayer, PaddingInputExample,
                            convert_examples_to_features, input_fn_builder)
from bertkit.core.config import PreprocessConfig, TaskConfig
from bertkit.core.errors import BertkitError
from bertkit.data import Example
from bertkit.tasks.classify import ClassifyTask
from bertkit.tasks.runner import TaskRunner
from bertkit.weights import default_model_path

REPO = Path(__file__).resolve().parents[1]
VOCAB = str(Path(default_model_path()) / "vocab.txt")


@pytest.fixture(scope="module")
def reviews(real_data_dir):
    rows = [json.loads(line) for line in (real_data_dir / "imdb" / "test.jsonl").open(encoding="utf-8")][:40]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def test_full_tokenizer_matches_reference_and_bertkit(reviews):
    texts, _ = reviews
    tok = FullTokenizer(VOCAB, do_lower_case=True)
    vocab = ref.load_vocab(VOCAB)
    for text in texts:
        pieces = tok.tokenize(text)
        assert pieces == ref.tokenize(text, vocab, True)
        assert tok.convert_tokens_to_ids(pieces) == [vocab[p] for p in pieces]
        assert tok.convert_ids_to_tokens(tok.convert_tokens_to_ids(pieces)) == pieces


def test_features_equal_bertkit_pipeline_and_official_packing(reviews):
    texts, labels = reviews
    tok = FullTokenizer(VOCAB, True)
    examples = [InputExample(guid=i, text_a=t, label=y) for i, (t, y) in enumerate(zip(texts, labels))]
    features = convert_examples_to_features(examples, [0, 1], 128, tok)
    # bertkit's own pipeline with the official head truncation.
    task = ClassifyTask(TaskConfig(labels=("0", "1")), PreprocessConfig(max_seq_length=128, truncation="head"),
                        tok.tokenizer)
    rows = TaskRunner(task).features([Example(t) for t in texts], with_labels=False)
    word_rows, type_rows = rows.word_ids, rows.type_ids
    for f, ids, types in zip(features, word_rows, type_rows):
        n = len(ids)  # bertkit keeps rows unpadded; the tutorial pads to 128
        assert f.input_ids == ids.tolist() + [0] * (128 - n)
        assert f.input_mask == [1] * n + [0] * (128 - n)
        assert f.segment_ids == types.tolist() + [0] * (128 - n)
    assert [f.label_id for f in features] == list(labels)
    # and the official recipe, written out by hand from the reference tokenizer.
    vocab = ref.load_vocab(VOCAB)
    for f, text in zip(features, texts):
        tokens = ["[CLS]"] + ref.tokenize(text, vocab, True)[:126] + ["[SEP]"]
        want = [vocab[t] for t in tokens]
        assert f.input_ids == want + [0] * (128 - len(want))
        assert f.input_mask == [1] * len(want) + [0] * (128 - len(want))


def test_pairs_and_padding_examples():
    tok = FullTokenizer(VOCAB, True)
    vocab = ref.load_vocab(VOCAB)
    a, b = "The cat sat on the mat " * 5, "A dog lay on the rug."
    feats = convert_examples_to_features(
        [InputExample("x", a, b, "yes"), PaddingInputExample()], ["no", "yes"], 24, tok)
    ta, tb = ref.tokenize(a, vocab, True), ref.tokenize(b, vocab, True)
    ref.truncate_seq_pair(ta, tb, 21)
    tokens = ["[CLS]"] + ta + ["[SEP]"] + tb + ["[SEP]"]
    assert feats[0].input_ids == [vocab[t] for t in tokens]
    assert feats[0].segment_ids == [0] * (len(ta) + 2) + [1] * (len(tb) + 1)
    assert feats[0].label_id == 1
    assert not feats[1].is_real_example and feats[1].input_ids == [0] * 24
    with pytest.raises(BertkitError, match="label 'maybe'"):
        convert_examples_to_features([InputExample("y", "hi", None, "maybe")], ["no", "yes"], 8, tok)


def test_input_fn_builder_gives_the_tutorial_keys():
    tok = FullTokenizer(VOCAB, True)
    feats = convert_examples_to_features([InputExample(i, "good film", None, i % 2) for i in range(5)],
                                         [0, 1], 16, tok)
    batch = next(iter(input_fn_builder(feats, 16, is_training=False, drop_remainder=False)({"batch_size": 4})))
    assert set(batch) == {"input_ids", "input_mask", "segment_ids", "label_ids"}
    assert batch["input_ids"].shape == (4, 16) and batch["label_ids"].numpy().tolist() == [0, 1, 0, 1]
    train = input_fn_builder(feats, 16, is_training=True, drop_remainder=True)({"batch_size": 4})
    assert [b["input_ids"].shape[0] for b in train.take(3)] == [4, 4, 4]  # repeats like the original


def test_keras_layer_list_and_dict_interfaces(tiny_model_dir):
    layer = KerasLayer(str(tiny_model_dir), trainable=True)
    ids = tf.constant([[2, 62, 63, 3, 0]])
    mask = tf.constant([[1, 1, 1, 1, 0]])
    types = tf.zeros_like(ids)
    pooled, sequence = layer([ids, mask, types])
    out = layer({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types})
    np.testing.assert_array_equal(pooled.numpy(), out["pooled_output"].numpy())
    np.testing.assert_array_equal(sequence.numpy(), out["sequence_output"].numpy())
    assert sequence.shape == (1, 5, 32)
    assert len(layer.trainable_weights) == len(layer.encoder.trainable_weights) > 0


def test_movie_reviews_example_runs(tiny_model_dir, real_data_dir):
    env = {**os.environ, "BERTKIT_DATA": str(real_data_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "movie_reviews.py"), "--model", str(tiny_model_dir),
         "--train-samples", "32", "--test-samples", "16", "--epochs", "1", "--max-seq-length", "32"],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for name in ("eval_accuracy", "f1_score", "auc", "precision", "recall"):
        assert f"{name} = " in out
    predictions = [line for line in out.splitlines() if line.startswith("('")]
    assert len(predictions) == 4 and "That movie was absolutely awful" in predictions[0]
