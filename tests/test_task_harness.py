"""One harness for every registered task and every encoder family (after KerasHub's `run_backbone_test`): at
a tiny config, the model builds, its loss is finite, one optimizer step changes every variable on the loss
path, a saved and reloaded bundle predicts the same, and the raw-text export equals `predict`.

Each task contributes a few examples of its own kind (`EXAMPLES`); a new task without them fails here. Each
encoder family (the tiny configs of tests/golden/families) runs with the tokenizer kind it ships: BERT's
WordPiece (`[CLS] a [SEP] b [SEP]`) for most, a RoBERTa-style byte-level BPE (`<s> a </s></s> b </s>`, every
position typed 0, padding id 1) for RoBERTa and an XLM-R-style SentencePiece unigram tokenizer.json for
XLM-R; both are trained in the test setup (tests/tokenizer_kinds.py). The default run: every task on BERT (one step and
round trip) and on RoBERTa (one step; NER and QA, whose windows pack differently, also round trip), classify on
every family; the slow run: every task on every family."""

import dataclasses
import json
import random
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import bertkit
from bertkit.api import BertkitModel
from bertkit.core.config import EncoderConfig, PreprocessConfig, TrainConfig
from bertkit.data import Example, QAExample, TokenExample
from bertkit.export.savedmodel import SIGNATURE, export_model, largest_difference
from bertkit.modeling.families import build_encoder
from bertkit.tasks import TASKS
from bertkit.tasks.runner import TaskRunner
from bertkit.tokenization import Tokenizer
from bertkit.tokenization.loading import load_tokenizer
from bertkit.training.loop import StepFunctions
from bertkit.training.optimizer import create_optimizer
from bertkit.weights.hf_families import FAMILIES as ENCODER_FAMILIES
from tests import tokenizer_kinds as tk
from tests.conftest import TINY_HF, tiny_rows

WORDS = ["the", "movie", "was", "great", "i", "loved", "it", "plot", "is", "thin", "awful", "bob", "paris"]


def _texts(n, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 14))) for _ in range(n)]


def classify_examples():
    return [Example(r["text"], label=r["label"], guid=f"c:{i}") for i, r in enumerate(tiny_rows(24, 0))]


def multilabel_examples():
    return [Example(t, label=[x for x in ("LOC", "PER") if (i >> ("LOC", "PER").index(x)) & 1], guid=f"m:{i}")
            for i, t in enumerate(_texts(24, 1))]


def regression_examples():
    return [Example(a, b, label=float(len(a.split()) - len(b.split())), guid=f"r:{i}")
            for i, (a, b) in enumerate(zip(_texts(24, 2), _texts(24, 3)))]


def ner_examples():
    out = []
    for i, text in enumerate(_texts(24, 4)):
        words = tuple(text.split())
        tags = tuple("I-PER" if w == "bob" else "I-LOC" if w == "paris" else "O" for w in words)
        out.append(TokenExample(words + ("bob",), tags + ("I-PER",), f"n:{i}", document="d" if i < 12 else None))
    return out


def qa_examples():
    out = []
    for i, context in enumerate(_texts(24, 5)):
        context += " the answer is paris ."
        out.append(QAExample(f"q{i}", "what is the answer ?", context, (("paris", context.index("paris")),),
                             guid=f"q:{i}"))
    return out


EXAMPLES = {"classify": classify_examples, "multilabel": multilabel_examples, "regression": regression_examples,
            "ner": ner_examples, "qa": qa_examples}
OPTIONS = {"qa": {"max_query_length": 8, "doc_stride": 8}, "ner": {"document_context": "on"}}


FAMILIES_DIR = Path(__file__).parent / "golden" / "families"
FAMILIES = ["bert", *sorted(ENCODER_FAMILIES)]
TOKENIZER_KIND = {"roberta": "hf_bpe", "xlm-roberta": "json_unigram"}  # a kind of tests/tokenizer_kinds.py; else BERT's
STEP_FAST = {(t, "bert") for t in TASKS} | {(t, "roberta") for t in TASKS} | {("classify", f) for f in FAMILIES}
ROUND_FAST = {(t, "bert") for t in TASKS} | {("ner", "roberta"), ("qa", "roberta")} | {("classify", f) for f in FAMILIES}


def params(fast: set) -> list:
    """Every task x family; those not in `fast` only in the slow run (`make test-slow`)."""
    return [pytest.param((task, family), id=f"{task}-{family}", marks=[] if (task, family) in fast else [pytest.mark.slow])
            for task in sorted(TASKS) for family in FAMILIES]


def encoder_config(family: str, vocab_size: int) -> EncoderConfig:
    """A tiny encoder of `family`: the golden folder's config (HF's own) with the harness's vocabulary."""
    if family == "bert":
        return EncoderConfig(vocab_size=vocab_size, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                             max_position_embeddings=32)
    hf = json.loads((FAMILIES_DIR / family / "config.json").read_text())
    config = ENCODER_FAMILIES[family].config(hf, family)
    return dataclasses.replace(config, vocab_size=vocab_size, max_position_embeddings=max(64, 34 + config.position_offset))


@pytest.fixture(scope="module")
def family_folders(tmp_path_factory):
    return tk.build(tmp_path_factory.mktemp("families"))


@pytest.fixture
def built(request):
    name, family = request.param
    assert name in EXAMPLES, f"task {name!r} has no examples in the harness"
    keras.utils.set_random_seed(0)
    examples = EXAMPLES[name]()
    cls = TASKS[name]
    config = cls.configure(examples, pooling="cls", head_dropout=0.1, source="harness", **OPTIONS.get(name, {}))
    if family in TOKENIZER_KIND:
        tokenizer = load_tokenizer(request.getfixturevalue("family_folders")[TOKENIZER_KIND[family]])
    else:
        tokenizer = Tokenizer(TINY_HF / "vocab.txt", True)
    task = cls(config, PreprocessConfig(max_seq_length=32), tokenizer)
    model = task.build_model(build_encoder(encoder_config(family, len(tokenizer.vocab))))
    model({k: tf.zeros((1, 8), tf.int32) for k in task.model_input_names()})
    return name, task, model, examples


@pytest.mark.parametrize("built", params(STEP_FAST), indirect=True)
def test_one_step_changes_every_variable_on_the_loss_path(built):
    name, task, model, examples = built
    features = TaskRunner(task).features(examples)
    batch, labels = features.batch(np.arange(min(8, len(features))))
    batch = {k: tf.constant(v) for k, v in batch.items()}
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(task.loss(tf.constant(labels), model(batch, training=True)))
    assert np.isfinite(float(loss)) and float(loss) > 0
    grads = tape.gradient(loss, model.trainable_variables)
    unused = {v.path for v, g in zip(model.trainable_variables, grads) if g is None}
    assert all("pooler" in p for p in unused)  # token and span heads do not read pooled_output
    before = [v.numpy().copy() for v in model.trainable_variables]
    opt = create_optimizer(model.trainable_variables, 1e-2, 10, 0.0, 0.01, clip_norm=None)
    steps = StepFunctions(model, task, opt, tf.distribute.get_strategy(), 1)
    steps.step(batch, tf.constant(labels), tf.constant(len(labels), tf.int32))
    unchanged = [v.path for v, b in zip(model.trainable_variables, before)
                 if v.path not in unused and np.array_equal(v.numpy(), b)]
    assert unchanged == []


@pytest.mark.parametrize("built", params(ROUND_FAST), indirect=True)
def test_reload_predicts_the_same_and_export_equals_predict(built, tmp_path):
    name, task, model, examples = built
    bm = BertkitModel(model, task, model.encoder.config, TrainConfig())
    saved = bm.save(tmp_path / "bundle")
    again = bertkit.load(saved)
    inputs = examples[:6]
    for a, b in zip(bm.predict_scores(inputs), again.predict_scores(inputs)):
        np.testing.assert_array_equal(np.asarray(a, dtype=object if name == "qa" else None),
                                      np.asarray(b, dtype=object if name == "qa" else None))
    metrics = again.evaluate(examples)
    missing = [m for m in task.metrics if m not in metrics]  # the declared list is what evaluate gives
    assert missing == []
    export_model(again, tmp_path / "export")  # verify=True: every output against predict on probe texts
    fn = tf.saved_model.load(str(tmp_path / "export")).signatures[SIGNATURE]
    signature = task.serving_signature()
    raw = _raw_inputs(name, examples[:6], signature.inputs)
    got = {k: v.numpy() for k, v in fn(**{n: tf.constant(c) for n, c in raw.items()}).items()}
    want = again.predictions(list(zip(*raw.values())) if len(raw) > 1 else raw[signature.inputs[0]])
    assert largest_difference(got, want, signature) <= 1e-5


def _raw_inputs(name, examples, inputs):
    if name == "qa":
        return {"question": [e.question for e in examples], "context": [e.context for e in examples]}
    if name == "ner":
        return {"text": [" ".join(e.words) for e in examples]}
    columns = {"text": [e.text_a for e in examples]}
    if "text_b" in inputs:
        columns["text_b"] = [e.text_b for e in examples]
    return columns
