"""Length bucketing of the sentence pipeline: nothing truncated, nothing reordered, little padding, and
the model's outputs do not depend on how a row was batched."""

import math

import numpy as np
import pytest
import tensorflow as tf

from bertkit.core.config import PreprocessConfig, TaskConfig
from bertkit.data import Example
from bertkit.data.batching import PAD_MULTIPLE, bucketed_order, training_dataset
from bertkit.tasks.classify import ClassifyTask
from bertkit.tasks.runner import TaskRunner
from bertkit.tokenization import Tokenizer
from tests.conftest import TINY_HF

WORDS = ["the", "movie", "was", "great", "awful", "plot", "thin", "i", "loved", "it"]


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(str(TINY_HF / "vocab.txt"), True)


def _corpus(n, seed=0):
    """Texts of 1..40 words; the label of text k is k, so any mix-up of rows and labels shows."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 41)))) for _ in range(n)]
    return texts, np.arange(n, dtype=np.int32)


def _features(tokenizer, texts, labels=None, model=None):
    """The classify task's rows of `texts` (labels k = text k) and its runner."""
    config = TaskConfig(labels=tuple(str(k) for k in range(len(texts))), label_type="int")
    task = ClassifyTask(config, PreprocessConfig(max_seq_length=64), tokenizer)
    examples = [Example(t, label=None if labels is None else int(y)) for t, y in zip(texts, labels if labels is not None
                                                                                    else range(len(texts)))]
    runner = TaskRunner(task, model)
    return runner.features(examples, with_labels=labels is not None), runner


def test_only_the_last_batch_is_short():
    lengths = np.random.default_rng(0).integers(1, 50, size=1003)
    batches = bucketed_order(lengths, 8, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1003))
    assert [len(b) for b in batches] == [8] * 125 + [3]


def test_training_batches_keep_every_text_whole_and_with_its_own_label(tokenizer):
    texts, labels = _corpus(300)
    want = [_features(tokenizer, [t])[0].word_ids[0] for t in texts[:40]]  # one text at a time
    want += _features(tokenizer, texts[40:])[0].word_ids
    features, _ = _features(tokenizer, texts, labels)
    seen, widths, slots = [], [], 0
    for feats, y in training_dataset(features, 16, seed=3):
        ids, mask = feats["input_word_ids"].numpy(), feats["input_mask"].numpy()
        longest = int(mask.sum(axis=1).max())
        assert ids.shape[1] == math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE <= 64
        for row, label in zip(ids, y.numpy()):
            n = int((row != 0).sum())
            assert row[:n].tolist() == want[label].tolist()  # the text of this label, all of it
            assert not row[n:].any()
        seen += y.numpy().tolist()
        widths.append(ids.shape[1])
        slots += ids.size
    assert sorted(seen) == labels.tolist()  # every example exactly once
    tokens = sum(len(w) for w in want)
    assert tokens / slots > 0.8 and tokens / (64 * len(texts)) < 0.45  # vs ~0.4 when padded to 64
    assert len(set(widths)) <= 64 // PAD_MULTIPLE


def test_epochs_are_reshuffled_and_reproducible(tokenizer):
    texts, labels = _corpus(100)
    features, _ = _features(tokenizer, texts, labels)

    def order(seed):
        return [int(v) for _, y in training_dataset(features, 10, seed=seed) for v in y.numpy()]

    assert order(1) == order(1)
    assert order(1) != order(2)


def test_predictions_come_back_in_input_order(tokenizer):
    texts, labels = _corpus(150)

    def model(feats, training=False):  # the row's length and first word id, as "outputs"
        return tf.cast(tf.stack([tf.reduce_sum(feats["input_mask"], 1), feats["input_word_ids"][:, 1]], axis=1),
                       tf.float32)

    features, runner = _features(tokenizer, texts, labels, model)
    features.batch_size = 32
    out = runner.run_rows(features)
    assert features.labels.tolist() == labels.tolist()
    assert out[:, 0].tolist() == [len(w) for w in features.word_ids]
    assert out[:, 1].tolist() == [w[1] for w in features.word_ids]


def test_outputs_do_not_depend_on_padding(tokenizer, tiny_model_dir):
    from bertkit.modeling.heads import PooledHead
    from bertkit.weights import load_pretrained

    texts, _ = _corpus(40)
    model = PooledHead(load_pretrained(tiny_model_dir).encoder, 3, pooling="mean")
    features, runner = _features(tokenizer, texts, model=model)
    features.batch_size = 8
    bucketed = runner.run_rows(features)
    fixed = np.zeros_like(bucketed)
    for i, (ids, types) in enumerate(zip(features.word_ids, features.type_ids)):  # each alone, padded to 64
        pad = 64 - len(ids)
        feats = {"input_word_ids": np.pad(ids, (0, pad))[None], "input_type_ids": np.pad(types, (0, pad))[None],
                 "input_mask": np.pad(np.ones_like(ids), (0, pad))[None]}
        fixed[i] = model(feats, training=False).numpy()[0]
    np.testing.assert_allclose(bucketed, fixed, atol=1e-5)
