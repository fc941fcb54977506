"""The checkpoint ring keeps the newest k and never lets its index name a missing checkpoint."""

import os

import pytest
import tensorflow as tf

from bertkit.training.checkpoints import CheckpointRing


def _ring(tmp_path, keep=2):
    v = tf.Variable(0.0)
    return v, CheckpointRing(tf.train.Checkpoint(v=v), tmp_path / "ckpt", "ckpt", keep)


def test_keeps_the_newest_k_with_relative_names(tmp_path):
    v, ring = _ring(tmp_path)
    for step in (5, 10, 15, 20):
        v.assign(float(step))
        ring.save(step)
    assert [os.path.basename(p) for p in ring.paths] == ["ckpt-15", "ckpt-20"]
    assert sorted(f.name for f in (tmp_path / "ckpt").glob("ckpt-*.index")) == ["ckpt-15.index", "ckpt-20.index"]
    assert not list((tmp_path / "ckpt").glob("ckpt-5.*")) and not list((tmp_path / "ckpt").glob("ckpt-10.*"))
    assert "/" not in (tmp_path / "ckpt" / "checkpoint").read_text().split("\n")[0]  # a moved run still resumes
    v.assign(-1.0)
    assert ring.restore() and float(v.numpy()) == 20.0


def test_a_kill_while_deleting_old_checkpoints_leaves_a_readable_index(tmp_path, monkeypatch):
    v, ring = _ring(tmp_path)
    ring.save(1)
    ring.save(2)

    def killed(path):  # the process dies at the first deletion
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.io.gfile, "remove", killed)
    with pytest.raises(KeyboardInterrupt):
        ring.save(3)
    for path in ring.paths:  # every checkpoint the index names is whole
        assert tf.train.load_checkpoint(path).get_variable_to_shape_map()
    assert [os.path.basename(p) for p in ring.paths] == ["ckpt-2", "ckpt-3"]


def test_no_checkpoint_restores_nothing(tmp_path):
    _, ring = _ring(tmp_path)
    assert ring.latest is None and ring.restore() is False
