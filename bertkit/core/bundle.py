"""The model bundle: one folder with everything needed to predict, written atomically.

    model/
      bertkit.json            format version, task name, where the encoder came from
      encoder_config.json     EncoderConfig
      preprocess_config.json  PreprocessConfig (casing, max_seq_length, truncation)
      task_config.json        TaskConfig (labels, pooling, ...)
      train_config.json       TrainConfig of the run that made it
      tokenizer_config.json   the tokenizer: its kind and settings (`bertkit.tokenization.loading`)
      vocab.txt, ...          the tokenizer's files (vocab.txt, tokenizer.json, a SentencePiece model, ...)
      model.weights.h5        encoder + head weights (Keras 3)
      metrics.json            final evaluation metrics, when there was an evaluation

A run folder (`bertkit train --output RUN`) keeps the bundle in `RUN/model/` next to the history;
`load()` accepts either folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bertkit.core.config import EncoderConfig, PreprocessConfig, TaskConfig, TrainConfig
from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_directory

FORMAT_VERSION = 1
REQUIRED = ("bertkit.json", "encoder_config.json", "preprocess_config.json", "task_config.json", "model.weights.h5")
TOKENIZER_FILES = ("tokenizer_config.json", "vocab.txt")  # one of them; bundles before issue 18 had only vocab.txt


def save_bundle(path, *, model, encoder_config: EncoderConfig, preprocess: PreprocessConfig,
                task_config: TaskConfig, train_config: TrainConfig | None, tokenizer,
                metrics: dict | None = None, source: str = "") -> Path:
    """Writes the bundle to `path` atomically (a crash leaves the previous bundle, or none).

    `tokenizer` is the run's tokenizer (`bertkit.tokenization.base.TokenizerBase`): it saves its own files.
    """
    path = Path(path)
    with atomic_directory(path) as tmp:
        (tmp / "bertkit.json").write_text(json.dumps(
            {"format_version": FORMAT_VERSION, "task": task_config.task, "source_model": source}, indent=2) + "\n")
        encoder_config.save(tmp / "encoder_config.json")
        preprocess.save(tmp / "preprocess_config.json")
        task_config.save(tmp / "task_config.json")
        if train_config is not None:
            train_config.save(tmp / "train_config.json")
        tokenizer.save(tmp)
        model.save_weights(str(tmp / "model.weights.h5"))
        if metrics is not None:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    return path


def find_bundle(path) -> Path:
    """Returns the bundle folder for `path` (the bundle itself or a run folder holding `model/`)."""
    path = Path(path)
    if not path.exists():
        raise BertkitError(f"{path}: no such model folder. Pass the --output folder of `bertkit train`.")
    if (path / "model" / "bertkit.json").exists():
        path = path / "model"
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if not any((path / name).exists() for name in TOKENIZER_FILES):
        missing.append(TOKENIZER_FILES[0])
    if missing:
        found = sorted(p.name for p in path.iterdir())[:12] if path.is_dir() else []
        raise BertkitError(
            f"{path}: not a bertkit model folder; missing {missing} (found {found}). Pass the --output "
            "folder of `bertkit train` (or its model/ sub-folder); to start from a pretrained encoder use "
            "`bertkit train --model PATH`.")
    info = json.loads((path / "bertkit.json").read_text())
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise BertkitError(f"{path}/bertkit.json: bundle format {info['format_version']} is newer than this "
                           f"bertkit understands ({FORMAT_VERSION}); upgrade bertkit.")
    return path


def read_configs(path: Path):
    """Reads the four configs of the bundle at `path` (already checked by `find_bundle`)."""
    train = TrainConfig.load(path / "train_config.json") if (path / "train_config.json").exists() else None
    return (EncoderConfig.load(path / "encoder_config.json"), PreprocessConfig.load(path / "preprocess_config.json"),
            TaskConfig.load(path / "task_config.json"), train)


def bundle_exists(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / "bertkit.json").exists() or (path / "model" / "bertkit.json").exists()
