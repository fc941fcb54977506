"""The Python API: `bertkit.train`, `bertkit.load`, and the loaded model's `predict` / `evaluate`.

The CLI (`bertkit.cli`) is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from bertkit.core import bundle as bundle_lib
from bertkit.core.config import EncoderConfig, PreprocessConfig, TaskConfig, TrainConfig, split_options
from bertkit.core.errors import BertkitError
from bertkit.core.precision import policy_scope
from bertkit.modeling.families import build_encoder
from bertkit.tasks import get_task_class
from bertkit.tasks.runner import TaskRunner
from bertkit.tokenization.loading import load_tokenizer as _load_local_tokenizer

class BertkitModel:
    """A fine-tuned model ready to predict: the Keras model, its task, tokenizer and configs."""

    def __init__(self, model, task, encoder_config: EncoderConfig, train_config: TrainConfig | None,
                 path: Path | None = None, metrics: dict | None = None):
        self.model = model
        self.task = task
        self.encoder_config = encoder_config
        self.train_config = train_config
        self.path = path
        self.metrics = metrics
        self.runner = TaskRunner(task, model)

    @property
    def tokenizer(self):
        """The in-graph tokenizer the model was trained with (`bertkit.tokenization.base.TokenizerBase`)."""
        return self.task.tokenizer

    @property
    def vocab_file(self) -> str | None:
        """The WordPiece vocabulary file, for tokenizers that have one (the BERT encoder export formats)."""
        return getattr(self.tokenizer, "vocab_file", None)

    @property
    def preprocess(self) -> PreprocessConfig:
        return self.task.preprocess

    @property
    def task_config(self) -> TaskConfig:
        return self.task.config

    @property
    def labels(self) -> tuple:
        return self.task.config.labels

    def predictions(self, inputs, batch_size: int = 64) -> dict:
        """The task's answers for raw inputs or examples: `{name: array [N, ...] or list of N arrays}`, the
        outputs of the export's signature (and a few more, e.g. NER's entity word spans)."""
        return self.runner.predict(self.task.as_examples(inputs), batch_size)

    def predict_scores(self, inputs, batch_size: int = 64):
        """Task scores (class probabilities `[N, K]` for classification) for raw texts or Examples."""
        examples = self.task.as_examples(inputs)
        if not examples:
            return np.zeros((0, len(self.labels)))
        return self.task.scores(self.runner.predict(examples, batch_size))

    def predict(self, inputs: Sequence, batch_size: int = 64) -> list[dict[str, Any]]:
        """Predicts raw texts (or `(text_a, text_b)` pairs, or Examples; for QA `(question, context)`).

        Returns:
            One dict per input. classify: `text`, `label` and `probabilities` (label name -> probability);
            multilabel: `labels` and `probabilities`; regression: `score`; ner: `entities` (text, type,
            character `start` / `end`, score) plus `words` / `tags`; qa: `answer`, `start`, `end`,
            `score`, `probability` and `n_best`.
        """
        examples = self.task.as_examples(inputs)
        if not examples:
            return []
        return self.task.format_predictions(examples, self.runner.predict(examples, batch_size))

    def evaluate(self, data, batch_size: int = 64, samples: int | None = None, seed: int = 42) -> dict:
        """Metrics on labelled data: a list of Examples, a file, a folder or a dataset name."""
        if isinstance(data, (str, Path)):
            examples, source = self.task.read_eval_data(data, samples, seed)
        else:
            examples, source = self.task.as_examples(list(data)), "examples"
        if not examples:
            raise BertkitError(f"{source}: no examples to evaluate.")
        gold = self.task.gold(examples)  # checks the labels before the model runs
        return self.task.compute_metrics(gold, self.runner.predict(examples, batch_size))

    def save(self, path) -> Path:
        """Writes this model as a bundle folder (atomically)."""
        return bundle_lib.save_bundle(
            path, model=self.model, encoder_config=self.encoder_config, preprocess=self.preprocess,
            task_config=self.task_config, train_config=self.train_config, tokenizer=self.tokenizer,
            metrics=self.metrics, source=str(self.path or ""))


def _build(task, encoder_config: EncoderConfig):
    model = task.build_model(build_encoder(encoder_config))
    model({name: tf.zeros((1, 8), tf.int32) for name in task.model_input_names()}, training=False)  # the variables
    return model


def load(path, mixed_precision: str | None = None) -> BertkitModel:
    """Loads a model bundle written by `bertkit train` (the run folder or its `model/` folder).

    mixed_precision: the policy the loaded model computes in ("float32", "mixed_bfloat16", "auto", ...);
    None builds it under the current global Keras policy. The global policy is left as it was.
    """
    folder = bundle_lib.find_bundle(path)
    encoder_config, preprocess, task_config, train_config = bundle_lib.read_configs(folder)
    tokenizer = _load_local_tokenizer(folder)
    task = get_task_class(task_config.task)(task_config, preprocess, tokenizer)
    with policy_scope(mixed_precision):
        model = _build(task, encoder_config)  # layers keep the policy they were built under
    try:
        model.load_weights(str(folder / "model.weights.h5"))
    except (ValueError, OSError) as e:
        raise BertkitError(f"{folder}/model.weights.h5: cannot be loaded into the model described by its "
                           f"configs ({e}). The bundle is damaged; retrain or restore it.") from None
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").exists() else None
    return BertkitModel(model, task, encoder_config, train_config, folder, metrics)


def load_tokenizer(path):
    """The in-graph tokenizer of any model folder bertkit reads: a Hugging Face folder (`tokenizer.json`,
    `vocab.txt`, a SentencePiece model or `vocab.json` + `merges.txt`), a Google TF1 checkpoint, a TF Hub
    SavedModel or handle, a bertkit run, bundle or export. Like `AutoTokenizer`, but in the graph.

    Returns:
        A `bertkit.tokenization.base.TokenizerBase`: called on a string tensor `[B]` it gives ragged int32
        ids `[B, (pieces)]` without special tokens; `vocab`, the special ids and `template` (how the family
        packs a pair) come with it.
    """
    from bertkit.weights import resolve_model_path

    return _load_local_tokenizer(resolve_model_path(path))


@dataclasses.dataclass
class TrainResult:
    model: BertkitModel
    metrics: dict | None
    run_dir: Path | None
    stats: dict


def train(data="imdb", output=None, *, model=None, task: str = "classify", task_options: dict | None = None,
          resume: bool = False, verbose: bool = True, on_epoch=None, **options) -> TrainResult:
    """Fine-tunes a pretrained encoder on `data` and saves the bundle to `output/model`.

    Args:
        data: a dataset name under `$BERTKIT_DATA` (e.g. "imdb"), a folder, a training file, or
            `bertkit.data.ExampleSplits` (examples already read; the sampling options are not applied again).
        output: the run folder (bundle in `model/`, `history.jsonl`, `tensorboard/`, `metrics.json`);
            None keeps everything in memory.
        model: a pretrained encoder folder or TF Hub handle; None is the packaged all-MiniLM-L6-v2.
        task: a name registered in `bertkit.tasks.TASKS`.
        task_options: the task's own settings, saved in the bundle (`Task.options`), e.g.
            `{"doc_stride": 128}` for qa, `{"threshold": 0.5}` for multilabel.
        resume: continue from the last checkpoint in `output` (same command, same data order and
            learning-rate schedule position).
        verbose: progress bar and messages on stderr.
        on_epoch: called as `on_epoch(epoch, metrics)` after each evaluated epoch of the fine-tuning loop
            (1-based epoch, its evaluation metrics), once the epoch is logged and checkpointed; an exception
            it raises stops the run there, with its history closed and its checkpoints kept, and
            propagates (`bertkit.tune` prunes trials this way). Not called by `method="few-shot"`.
        **options: any field of `TrainConfig` (learning_rate, batch_size, epochs, seed, mixed_precision,
            patience, ...), of `PreprocessConfig` (max_seq_length, truncation, head_fraction) and the head's
            `pooling` ("cls" / "mean"; default: the pretrained model's own) and `head_dropout`; each field's
            help says what it does. `bertkit train --help` lists the same options as flags.

    Returns:
        A `TrainResult` with the trained `BertkitModel`, final metrics and the run folder.
    """
    from bertkit.training import session

    train_options, pre_options, head = split_options(options, TrainConfig, PreprocessConfig, TaskConfig)
    config = TrainConfig(**train_options)
    outcome = session.run(data, output, model=model, task=task, task_options=task_options or {}, config=config,
                          preprocess=PreprocessConfig(**pre_options), head=head, resume=resume, verbose=verbose,
                          on_epoch=on_epoch)
    path = outcome.run_dir / "model" if outcome.run_dir is not None and (outcome.run_dir / "model").exists() \
        else outcome.run_dir
    result_model = BertkitModel(outcome.model, outcome.task, outcome.encoder_config, config, path, outcome.metrics)
    return TrainResult(result_model, outcome.metrics, outcome.run_dir, outcome.stats)

