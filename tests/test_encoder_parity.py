"""Numerical parity of `BertEncoder` + the HF loader with `transformers.BertModel`.

The goldens come from `scripts/make_golden_encoder.py`, run in a separate PyTorch venv. Padded
positions are excluded: their outputs are arbitrary in both implementations.
"""

import json
from pathlib import Path

import numpy as np

from bertkit.weights import default_model_path, load_pretrained

GOLDEN = Path(__file__).parent / "golden"
INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def run_golden(model_dir, golden_file):
    golden = json.loads((GOLDEN / golden_file).read_text(encoding="utf-8"))
    inputs = {k: np.array(golden[k], dtype=np.int32) for k in INPUT_NAMES}  # [B, T] each
    outputs = load_pretrained(model_dir).encoder(inputs, training=False)
    return golden, inputs["input_mask"].astype(bool), {k: v.numpy() for k, v in outputs.items()}


def max_diff(actual, expected, where=None):
    diff = np.abs(actual - np.asarray(expected, dtype=np.float32))
    return float((diff if where is None else diff[where]).max())


def test_tiny_random_bert_matches_transformers():
    golden, mask, out = run_golden(GOLDEN / "tiny_bert_hf", "tiny_bert_outputs.json")
    assert max_diff(out["sequence_output"], golden["sequence_output"], mask) < 1e-5
    assert max_diff(out["pooled_output"], golden["pooled_output"]) < 1e-5


def test_minilm_matches_transformers():
    golden, mask, out = run_golden(default_model_path(), "minilm_encoder.json")
    seq = out["sequence_output"]  # [B, T, H]
    first = len(golden["sequence_output_first8"][0])  # 8 positions stored in full
    assert max_diff(out["pooled_output"], golden["pooled_output"]) < 1e-4
    assert max_diff(seq[:, :first], golden["sequence_output_first8"], mask[:, :first]) < 1e-4
    # Sums over 384 features / up to 60 positions: per-element errors add up, hence 1e-3.
    assert max_diff(seq.sum(-1), golden["sequence_position_sums"], mask) < 1e-3  # [B, T]
    assert max_diff((seq * mask[..., None]).sum(1), golden["sequence_feature_sums"]) < 1e-3  # [B, H]
