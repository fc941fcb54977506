"""A run killed with SIGKILL resumes to the same result; two worker processes under
MultiWorkerMirroredStrategy train the same weights as one process with the same global batch."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

REPO = Path(__file__).resolve().parents[1]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}


def _train_cmd(data, model, out, *extra):
    return [sys.executable, "-m", "bertkit.cli", "train", "--data", str(data), "--output", str(out),
            "--model", str(model), "--max-seq-length", "16", "--batch-size", "4", "--epochs", "8",
            "--learning-rate", "2e-3", "--pooling", "mean", "--mixed-precision", "float32", "--quiet",
            "--no-report", "--checkpoint-every", "5", *extra]


def _weights(run):
    import bertkit

    return [v.numpy() for v in bertkit.load(run).model.weights]


def _latest_step(ckpt_dir: Path) -> int:
    state = tf.train.get_checkpoint_state(str(ckpt_dir))
    return int(state.model_checkpoint_path.rsplit("-", 1)[1]) if state else 0


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_data, tiny_model_dir):
    full = tmp_path / "full"
    subprocess.run(_train_cmd(tiny_data, tiny_model_dir, full), env=_env(), check=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(tiny_data, tiny_model_dir, killed), env=_env())
    ckpt_dir = killed / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (ckpt_dir / "checkpoint").exists() and _latest_step(ckpt_dir) >= 15:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists()  # no bundle from a killed run
    # Every checkpoint the index names is whole and readable.
    state = tf.train.get_checkpoint_state(str(ckpt_dir))
    for path in state.all_model_checkpoint_paths:
        reader = tf.train.load_checkpoint(path)
        assert reader.get_variable_to_shape_map()
    step_at_kill = _latest_step(ckpt_dir)
    assert 15 <= step_at_kill < 96

    subprocess.run(_train_cmd(tiny_data, tiny_model_dir, killed, "--resume"), env=_env(), check=True, timeout=300)
    history = [json.loads(line) for line in (killed / "history.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "resume" for r in history)
    for a, b in zip(_weights(full), _weights(killed)):
        np.testing.assert_allclose(a, b, atol=1e-5)  # same data order, schedule and dropout masks
    m_full = json.loads((full / "metrics.json").read_text())
    m_killed = json.loads((killed / "metrics.json").read_text())
    assert m_full["accuracy"] == m_killed["accuracy"]
    assert m_full["auc"] == pytest.approx(m_killed["auc"], abs=1e-6)


def test_resume_without_checkpoints_and_reuse_without_resume_are_refused(tmp_path, tiny_data, tiny_model_dir):
    from bertkit.cli import main

    assert main(_train_cmd(tiny_data, tiny_model_dir, tmp_path / "new", "--resume")[3:]) == 2


WORKER = textwrap.dedent("""
    import sys, bertkit
    bertkit.train(data=sys.argv[1], output=sys.argv[2], model=sys.argv[3], max_seq_length=16, batch_size=8,
                  epochs=2, learning_rate=2e-3, pooling="mean", head_dropout=0.0, mixed_precision="float32",
                  strategy=sys.argv[4], verbose=False, eval_every_epoch=False)
""")


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def no_dropout_model(tmp_path, tiny_model_dir):
    folder = tmp_path / "nodrop"
    folder.mkdir()
    for f in tiny_model_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_two_workers_equal_one_process(tmp_path, tiny_data, no_dropout_model):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    single = tmp_path / "single"
    subprocess.run([sys.executable, str(script), str(tiny_data), str(single), str(no_dropout_model), "default"],
                   env=_env(), check=True, timeout=300)
    ports = _free_ports(2)
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(tiny_data), str(tmp_path / f"worker{index}"), str(no_dropout_model),
             "multi-worker"], env={**_env(), "TF_CONFIG": json.dumps(tf_config)}))
    codes = [p.wait(timeout=400) for p in procs]
    assert codes == [0, 0]
    assert (tmp_path / "worker0" / "model").exists() and not (tmp_path / "worker1" / "model").exists()
    for a, b in zip(_weights(single), _weights(tmp_path / "worker0")):
        np.testing.assert_allclose(a, b, atol=1e-5)  # same global batch of 8: 4 per worker
