"""Config JSON round trips and atomic writes."""

import json
import os

import pytest

from bertkit.core.config import EncoderConfig, PreprocessConfig, TaskConfig, TrainConfig
from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_directory, atomic_write_text


@pytest.mark.parametrize("cfg", [
    EncoderConfig(vocab_size=10, hidden_size=4, num_layers=1, num_heads=2, intermediate_size=8),
    PreprocessConfig(max_seq_length=64, truncation="tail"),
    TaskConfig(labels=("neg", "pos"), pooling="mean", is_pair=True, extra={"threshold": 0.5}),
    TrainConfig(learning_rate=1e-4, train_samples=10),
])
def test_json_round_trip(tmp_path, cfg):
    cfg.save(tmp_path / "c.json")
    assert type(cfg).load(tmp_path / "c.json") == cfg


def test_unknown_key_names_file_and_key(tmp_path):
    path = tmp_path / "encoder_config.json"
    path.write_text(json.dumps({"hidden_size": 8, "num_heads": 2, "hiden_layers": 3}))
    with pytest.raises(BertkitError, match=r"encoder_config.json.*hiden_layers"):
        EncoderConfig.load(path)


def test_bad_json_names_line(tmp_path):
    path = tmp_path / "task_config.json"
    path.write_text('{\n  "task": "classify",\n  oops\n}')
    with pytest.raises(BertkitError, match=r"task_config.json:3"):
        TaskConfig.load(path)


def test_invalid_values_are_rejected():
    with pytest.raises(BertkitError, match="truncation"):
        PreprocessConfig(truncation="middle")
    with pytest.raises(BertkitError, match="divisible"):
        EncoderConfig(hidden_size=10, num_heads=3)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "one")
    atomic_write_text(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "two"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_directory_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        (tmp / "weights").write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "weights").write_text("half")
            raise RuntimeError("crash while writing")
    assert (target / "weights").read_text() == "good"
    assert sorted(os.listdir(tmp_path)) == ["model"]  # no partial folder left behind
