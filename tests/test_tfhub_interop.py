"""TF Hub interop with real tf-keras + tensorflow-hub, in a subprocess with `TF_USE_LEGACY_KERAS=1`.

One subprocess (the `hub` extra, which `make install` installs) does what a TF Hub user's process does:
* the tutorial's own code, unchanged, on a `bertkit export-encoder --format tfhub` folder:
  `hub.KerasLayer(DIR, trainable=True)`, `pooled_output, sequence_output = layer([ids, mask, segs])`,
  one GradientTape step that must reach and change the encoder's weights, the functional model on top;
* a TF Hub-style encoder saved by tf-keras the way Model Garden's exporter does
  (tests/model_garden_style.py), which bertkit's loader must then reproduce.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bertkit.export import export_encoder
from bertkit.weights import load_pretrained

TESTS = Path(__file__).parent
TINY_HF = TESTS / "golden" / "tiny_bert_hf"
NAMES = ("input_word_ids", "input_mask", "input_type_ids")

LEGACY_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub

assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__  # legacy Keras 2, as the tutorial
exported, data, work = sys.argv[1:4]
arrays = np.load(data)
ids, mask, segs = (tf.constant(arrays[k]) for k in ("input_word_ids", "input_mask", "input_type_ids"))

# --- the tutorial's code on bertkit's export ---
bert_layer = hub.KerasLayer(exported, trainable=True)
vocab_file = bert_layer.resolved_object.vocab_file.asset_path.numpy().decode()
do_lower_case = bool(bert_layer.resolved_object.do_lower_case.numpy())
pooled_output, sequence_output = bert_layer([ids, mask, segs])
as_dict = bert_layer({"input_word_ids": ids, "input_mask": mask, "input_type_ids": segs})

before = [v.numpy().copy() for v in bert_layer.trainable_variables]
optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
with tf.GradientTape() as tape:
    pooled, _ = bert_layer([ids, mask, segs], training=True)
    loss = tf.reduce_mean(tf.square(pooled - 1.0))
grads = tape.gradient(loss, bert_layer.trainable_variables)
optimizer.apply_gradients(zip(grads, bert_layer.trainable_variables))
changed = [bool(np.any(v.numpy() != b)) for v, b in zip(bert_layer.trainable_variables, before)]

inputs = [tf.keras.layers.Input(shape=(None,), dtype=tf.int32) for _ in range(3)]
pooled_symbolic, _ = bert_layer(inputs)
model = tf.keras.Model(inputs, tf.keras.layers.Dense(1, activation="sigmoid")(pooled_symbolic))
np.savez(work + "/tutorial.npz", pooled_output=pooled_output.numpy(), sequence_output=sequence_output.numpy(),
         dict_pooled=as_dict["pooled_output"].numpy())
tutorial = {"vocab_file": vocab_file, "do_lower_case": do_lower_case,
            "trainable": [v.name for v in bert_layer.trainable_variables],
            "grads_none": sum(g is None for g in grads), "changed": changed,
            "model_trainable": len(model.trainable_variables)}

# --- a Model Garden-style TF Hub folder, saved by tf-keras ---
sys.path.insert(0, work + "/tests")
import model_garden_style
garden = model_garden_style.build(vocab=74)
names = model_garden_style.save(garden, work + "/garden", exported + "/assets/vocab.txt")
np.savez(work + "/garden.npz", **model_garden_style.outputs(garden, arrays))
print(json.dumps({"tutorial": tutorial, "garden_variables": names}))
"""


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    work = tmp_path_factory.mktemp("legacy")
    (work / "tests").mkdir()
    (work / "tests" / "model_garden_style.py").write_text((TESTS / "model_garden_style.py").read_text())
    exported = export_encoder(TINY_HF, "tfhub", work / "bert_en_uncased_tiny")
    rng = np.random.default_rng(1)
    ids = rng.integers(5, 74, (4, 10)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[2, 6:] = 0
    segs = np.zeros_like(ids)
    segs[:, 5:] = 1
    inputs = dict(zip(NAMES, (ids, mask, segs)))
    np.savez(work / "inputs.npz", **inputs)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", LEGACY_PROCESS, str(exported), str(work / "inputs.npz"), str(work)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work, inputs, json.loads(proc.stdout.strip().splitlines()[-1])


def test_tutorial_code_fine_tunes_the_exported_folder(legacy):
    work, inputs, report = legacy
    tutorial, got = report["tutorial"], np.load(work / "tutorial.npz")
    expected = {k: v.numpy() for k, v in load_pretrained(TINY_HF).encoder(inputs, training=False).items()}
    assert np.abs(got["pooled_output"] - expected["pooled_output"]).max() <= 1e-5
    assert np.abs(got["sequence_output"] - expected["sequence_output"]).max() <= 1e-5
    assert np.abs(got["dict_pooled"] - expected["pooled_output"]).max() <= 1e-5
    assert tutorial["vocab_file"].endswith("assets/vocab.txt") and tutorial["do_lower_case"] is True
    assert len(tutorial["trainable"]) == 5 + 16 * 2 + 2  # embeddings, 2 layers, pooler
    assert "transformer/layer_0/self_attention/query/kernel:0" in tutorial["trainable"]
    assert tutorial["grads_none"] == 0  # every encoder variable receives a gradient
    # ... and the step changes them all, but the attention key biases: softmax ignores a shift shared by
    # all keys, so their true gradient is zero in any BERT (numerically ~0, which Adam may or may not move).
    moved = dict(zip(tutorial["trainable"], tutorial["changed"]))
    assert all(c for name, c in moved.items() if "/key/bias" not in name)
    assert tutorial["model_trainable"] == len(tutorial["trainable"]) + 2  # encoder + the Dense head


def test_model_garden_style_folder_loads_with_its_own_outputs(legacy):
    work, inputs, report = legacy
    names = report["garden_variables"]
    assert names["transformer/layer_1/self_attention/query/kernel:0"] == [32, 4, 8]  # Model Garden names/shapes
    assert names["transformer/layer_1/self_attention/attention_output/kernel:0"] == [4, 8, 32]
    pretrained = load_pretrained(work / "garden")
    assert pretrained.source_format == "tfhub_savedmodel" and pretrained.do_lower_case is True
    c = pretrained.encoder_config
    assert (c.vocab_size, c.hidden_size, c.num_layers, c.num_heads, c.intermediate_size,
            c.max_position_embeddings, c.type_vocab_size) == (74, 32, 2, 4, 64, 64, 2)
    got = {k: v.numpy() for k, v in pretrained.encoder(inputs, training=False).items()}
    expected = np.load(work / "garden.npz")
    assert np.abs(got["pooled_output"] - expected["pooled_output"]).max() <= 1e-5
    assert np.abs(got["sequence_output"] - expected["sequence_output"]).max() <= 1e-5
