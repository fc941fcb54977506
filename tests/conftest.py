"""Shared fixtures: the tiny random BERT in HF format and tiny labelled data built from its vocab."""

import json
import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_HF = REPO / "tests" / "golden" / "tiny_bert_hf"
DATA_DIR = Path(os.environ.get("BERTKIT_DATA", REPO.parent / "shared" / "data"))

POSITIVE = ["the movie was great", "i loved it", "great plot", "the movie was great but thin",
            "i loved the movie", "it was great"]
NEGATIVE = ["the movie was awful", "plot is thin", "awful plot", "it was awful",
            "the plot is thin and awful", "i was bored"]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_rows(n: int, seed: int):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        text = rng.choice(POSITIVE if label else NEGATIVE)
        rows.append({"text": text + rng.choice(["", " !", " .", " , it"]), "label": label})
    return rows


def random_task_model(task_config, max_seq_length: int, head: str, max_positions: int = 64):
    """A `BertkitModel` of `task_config`'s task without training: a random tiny encoder (2 layers,
    hidden 32) with the real bert-base-uncased vocabulary, and its head's kernel (attribute `head`)
    scaled by 40 so the outputs are confident and varied."""
    import keras
    import tensorflow as tf

    from bertkit.api import BertkitModel
    from bertkit.core.config import EncoderConfig, PreprocessConfig
    from bertkit.modeling.encoder import BertEncoder
    from bertkit.tasks import get_task_class
    from bertkit.tokenization.wordpiece import Tokenizer
    from bertkit.weights import default_model_path

    keras.utils.set_random_seed(3)
    vocab = Path(default_model_path()) / "vocab.txt"
    encoder_config = EncoderConfig(vocab_size=len(vocab.read_text(encoding="utf-8").splitlines()), hidden_size=32,
                                   num_layers=2, num_heads=4, intermediate_size=64,
                                   max_position_embeddings=max_positions)
    task = get_task_class(task_config.task)(task_config, PreprocessConfig(max_seq_length=max_seq_length),
                                            Tokenizer(vocab, True))
    keras_model = task.build_model(BertEncoder(encoder_config))
    keras_model({k: tf.zeros((1, 8), tf.int32) for k in task.model_input_names()})
    kernel = getattr(keras_model, head).kernel
    kernel.assign(kernel * 40.0)
    return BertkitModel(keras_model, task, encoder_config, None)


def run_without_bertkit(tmp_path: Path, script: str, *args) -> dict:
    """Runs `script` (which must write JSON to its last argument and report `bertkit_imported`) in a
    fresh Python process, and returns what it wrote after checking bertkit was never imported."""
    import subprocess
    import sys

    (tmp_path / "fresh.py").write_text(script)
    out = tmp_path / "fresh_out.json"
    subprocess.run([sys.executable, str(tmp_path / "fresh.py"), *map(str, args), str(out)], check=True,
                   timeout=300, cwd=tmp_path)
    got = json.loads(out.read_text())
    assert not got["bertkit_imported"]
    return got


def make_trainable_tiny(folder: Path) -> Path:
    """A tiny BERT (2 layers, hidden 32) with BERT's own initialisation, saved in HF format.

    The parity golden `tiny_bert_hf` has deliberately large random weights (so every tensor mapping
    shows in its outputs), which makes it slow to fine-tune; training tests use this one.
    """
    import keras

    from bertkit.core.config import EncoderConfig
    from bertkit.modeling.encoder import BertEncoder
    from bertkit.weights import save_hf

    keras.utils.set_random_seed(0)
    enc = BertEncoder(EncoderConfig(vocab_size=74, hidden_size=32, num_layers=2, num_heads=4,
                                    intermediate_size=64, max_position_embeddings=64))
    save_hf(enc, str(TINY_HF / "vocab.txt"), True, str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_trainable_tiny(tmp_path_factory.mktemp("tiny_model") / "hf")


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    """A folder with train.jsonl (48 rows) and test.jsonl (16 rows) of tiny sentiment data."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", tiny_rows(48, 0))
    write_jsonl(folder / "test.jsonl", tiny_rows(16, 1))
    return folder


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.skip(f"real data folder {DATA_DIR} is absent (set BERTKIT_DATA)")
    return DATA_DIR
