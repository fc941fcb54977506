"""Few-shot classification (SetFit-style) and samples per class: pairs, the head's solver against
scikit-learn (golden from scripts/make_golden_logreg.py), and the method end to end on a tiny model."""

import json
from pathlib import Path

import numpy as np
import pytest

import bertkit
from bertkit.core.config import TrainConfig
from bertkit.core.errors import BertkitError
from bertkit.data import Example, sample_per_class
from bertkit.data.batching import FeatureSet
from bertkit.tasks.classify.few_shot import PAIR_BUCKET_BATCHES, logistic_regression, make_pairs, pair_dataset
from tests.conftest import tiny_rows, write_jsonl

KW = dict(max_seq_length=16, batch_size=8, mixed_precision="float32", verbose=False)


def test_pairs_one_same_and_one_other_label_per_example_and_round():
    labels = np.array([0, 0, 1, 1, 1, 2, 2])
    left, right, target = make_pairs(labels, rounds=3, seed=0)
    assert len(left) == 2 * 3 * len(labels)
    same = labels[left] == labels[right]
    np.testing.assert_array_equal(same, target == 1.0)
    assert (left != right).all()  # every label here has two or more examples
    assert sorted(np.bincount(left)) == [6] * 7  # each example twice per round
    np.testing.assert_array_equal(make_pairs(labels, 3, 0)[1], right)  # seeded


def test_pair_batches_hold_every_pair_once_and_pad_to_their_own_longest():
    # 16 rows of 6 tokens and one of 60; row i's tokens are all i + 1, so a batch row names its example
    lengths = [6] * 16 + [60]
    labels = np.array([0, 1] * 8 + [0])
    rows = FeatureSet([np.full(n, i + 1, np.int32) for i, n in enumerate(lengths)],
                      [np.zeros(n, np.int32) for n in lengths], labels, token_labels=False)
    left, right, target = make_pairs(labels, rounds=5, seed=0)
    batches = list(pair_dataset(rows, left, right, target, batch_size=8, seed=1).as_numpy_iterator())
    seen = []
    for features, targets in batches:
        a, b = features["a"]["input_word_ids"], features["b"]["input_word_ids"]  # [B, T] each, one T
        assert a.shape[1] == b.shape[1]
        seen += [(int(x[0]) - 1, int(y[0]) - 1, float(t)) for x, y, t in zip(a, b, targets)]
    assert sorted(seen) == sorted(zip(left.tolist(), right.tolist(), target.tolist()))
    assert [len(t) for _, t in batches] == [8] * (len(left) // 8) + ([len(left) % 8] if len(left) % 8 else [])
    with_long = int(((left == 16) | (right == 16)).sum())  # pairs holding the long example
    wide = sum(f["a"]["input_word_ids"].shape[1] == 64 for f, _ in batches)
    # In a random order ~15 of the 22 batches would hold it and pad to 64 (1 - (1 - 23/170)^8 of them). Sorted
    # within windows of PAIR_BUCKET_BATCHES batches, its pairs fill the last batches of each window they are in.
    windows = -(-len(left) // (8 * PAIR_BUCKET_BATCHES))
    assert wide <= -(-with_long // 8) + windows < len(batches) // 2


def test_few_shot_reads_the_pairs_once_in_batches_of_16_unless_told_otherwise():
    assert (TrainConfig().epochs, TrainConfig().batch_size) == (3, 32)
    assert (TrainConfig(method="few-shot").epochs, TrainConfig(method="few-shot").batch_size) == (1, 16)
    given = TrainConfig(method="few-shot", epochs=3, batch_size=32)
    assert (given.epochs, given.batch_size) == (3, 32)
    assert TrainConfig.from_dict(TrainConfig(method="few-shot").to_dict()).batch_size == 16  # saved resolved


def test_head_solver_equals_scikit_learn():
    golden = json.loads((Path(__file__).parent / "golden" / "logreg.json").read_text())
    for case in golden["cases"]:
        x, y = np.array(case["x"]), np.array(case["labels"])
        kernel, bias = logistic_regression(x, y, case["classes"], case["C"])
        z = x @ kernel + bias
        if case["classes"] == 2:
            p = 1 / (1 + np.exp(-z[:, 0]))
            p = np.stack([1 - p, p], axis=1)
        else:
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(p, case["probabilities"], atol=1e-6)


def test_samples_per_class():
    examples = [Example(f"t{i}", label=i % 3, guid=str(i)) for i in range(30)] + [Example("x", label=9, guid="x")]
    kept = sample_per_class(examples, 4, seed=1)
    assert sorted(np.bincount([e.label for e in kept])[[0, 1, 2, 9]]) == [1, 4, 4, 4]  # label 9 has one
    positions = [examples.index(e) for e in kept]
    assert positions == sorted(positions)  # file order
    assert kept == sample_per_class(examples, 4, seed=1) != sample_per_class(examples, 4, seed=2)
    with pytest.raises(BertkitError, match="r:2: samples per class need one label"):
        sample_per_class([Example("a", label=["x"], guid="r:2")], 1)


def test_few_shot_trains_exports_and_reloads(tmp_path, tiny_model_dir):
    write_jsonl(tmp_path / "train.jsonl", tiny_rows(48, 0))
    write_jsonl(tmp_path / "test.jsonl", tiny_rows(16, 1))
    result = bertkit.train(data=str(tmp_path), output=str(tmp_path / "run"), model=str(tiny_model_dir),
                           method="few-shot", samples_per_class=4, epochs=2, pair_iterations=5, pooling="mean",
                           learning_rate=1e-3, **KW)
    assert result.stats["train_examples"] == 2 * 2 * 5 * 8  # epochs x pairs (2 per example, 5 rounds, 8 examples)
    assert result.metrics["n"] == 16 and result.model.task_config.extra == {"normalize": "on"}
    texts = ["the movie was great", "awful plot"]
    again = bertkit.load(tmp_path / "run")
    np.testing.assert_array_equal(again.predict_scores(texts), result.model.predict_scores(texts))
    from bertkit.export.savedmodel import export_model

    export_model(again, tmp_path / "export")  # checks the export against predict


def test_method_and_samples_errors(tmp_path, tiny_model_dir):
    write_jsonl(tmp_path / "train.jsonl", tiny_rows(16, 0))
    with pytest.raises(BertkitError, match="--samples-per-class and --method few-shot are for --task classify"):
        bertkit.train(data=str(tmp_path / "train.jsonl"), model=str(tiny_model_dir), task="regression",
                      method="few-shot", **KW)
    with pytest.raises(BertkitError, match="--method must be one of fine-tune, few-shot"):
        bertkit.train(data=str(tmp_path / "train.jsonl"), model=str(tiny_model_dir), method="zero-shot", **KW)
    with pytest.raises(BertkitError, match="few-shot trains in one pass"):
        bertkit.train(data=str(tmp_path / "train.jsonl"), output=str(tmp_path / "r"), model=str(tiny_model_dir),
                      method="few-shot", patience=2, **KW)
