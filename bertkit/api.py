"""The Python API: `bertkit.train`, `bertkit.load`, and the loaded model's `predict` / `evaluate`.

The CLI (`bertkit.cli`) is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from bertkit import bundle as bundle_lib
from bertkit.config import EncoderConfig, PreprocessConfig, TaskConfig, TrainConfig
from bertkit.data import resolve_data
from bertkit.encoder import BertEncoder
from bertkit.errors import BertkitError
from bertkit.io_utils import atomic_write_text
from bertkit.precision import policy_scope
from bertkit.report.predictions import save_eval_predictions
from bertkit.tasks import get_task_class
from bertkit.tokenization import Tokenizer
from bertkit.training.history import History
from bertkit.training.checkpoints import Checkpointer
from bertkit.training.loop import LoopOptions, run_training
from bertkit.training.strategy import get_strategy, is_chief
from bertkit.training.optimizer import create_optimizer
from bertkit.weights import default_model_path, load_pretrained, resolve_model_path


class BertkitModel:
    """A fine-tuned model ready to predict: the Keras model, its task, tokenizer and configs."""

    def __init__(self, model, task, encoder_config: EncoderConfig, train_config: TrainConfig | None,
                 vocab_file: str, path: Path | None = None, metrics: dict | None = None):
        self.model = model
        self.task = task
        self.encoder_config = encoder_config
        self.train_config = train_config
        self.vocab_file = vocab_file
        self.path = path
        self.metrics = metrics

    @property
    def preprocess(self) -> PreprocessConfig:
        return self.task.preprocess

    @property
    def task_config(self) -> TaskConfig:
        return self.task.config

    @property
    def labels(self) -> tuple:
        return self.task.config.labels

    def _as_examples(self, inputs) -> list:
        return self.task.as_examples(inputs)  # texts / pairs / Examples; per task (NER: texts, QA: pairs)

    def predict_scores(self, inputs, batch_size: int = 64) -> np.ndarray:
        """Task scores (class probabilities `[N, K]` for classification) for raw texts or Examples."""
        examples = self._as_examples(inputs)
        if not examples:
            return np.zeros((0, len(self.labels)))
        ds = self.task.make_dataset(examples, batch_size, training=False, source="predict", with_labels=False)
        scores, _ = self.task.predict_outputs(self.model, ds)
        return scores

    def predict(self, inputs: Sequence, batch_size: int = 64) -> list[dict[str, Any]]:
        """Predicts raw texts (or `(text_a, text_b)` pairs, or Examples; for QA `(question, context)`).

        Returns:
            One dict per input. classify: `text`, `label` and `probabilities` (label name -> probability);
            multilabel: `labels` and `probabilities`; regression: `score`; ner: `entities` (text, type,
            character `start` / `end`, score) plus `words` / `tags`; qa: `answer`, `start`, `end`,
            `score`, `probability` and `n_best`.
        """
        examples = self._as_examples(inputs)
        return self.task.format_predictions(examples, self.predict_scores(examples, batch_size))

    def evaluate(self, data, batch_size: int = 64, samples: int | None = None, seed: int = 42) -> dict:
        """Metrics on labelled data: a list of Examples, a file, a folder or a dataset name."""
        if isinstance(data, (str, Path)):
            examples, source = self.task.read_eval_data(data, samples, seed)
        else:
            examples, source = list(data), "examples"
        if not examples:
            raise BertkitError(f"{source}: no examples to evaluate.")
        ds = self.task.make_dataset(examples, batch_size, training=False, source=source)
        scores, gold = self.task.predict_outputs(self.model, ds)
        return self.task.compute_metrics(gold, scores)

    def save(self, path) -> Path:
        """Writes this model as a bundle folder (atomically)."""
        return bundle_lib.save_bundle(
            path, model=self.model, encoder_config=self.encoder_config, preprocess=self.preprocess,
            task_config=self.task_config, train_config=self.train_config, vocab_file=self.vocab_file,
            metrics=self.metrics, source=str(self.path or ""))


def _build(task, encoder_config: EncoderConfig, preprocess: PreprocessConfig):
    encoder = BertEncoder(encoder_config)
    model = task.build_model(encoder)
    t = min(8, preprocess.max_seq_length)
    dummy = {name: tf.zeros((1, t), tf.int32) for name in task.model_input_names()}
    model(dummy, training=False)  # creates every variable
    return model


def load(path, mixed_precision: str | None = None) -> BertkitModel:
    """Loads a model bundle written by `bertkit train` (the run folder or its `model/` folder).

    mixed_precision: the policy the loaded model computes in ("float32", "mixed_bfloat16", "auto", ...);
    None builds it under the current global Keras policy. The global policy is left as it was.
    """
    folder = bundle_lib.find_bundle(path)
    encoder_config, preprocess, task_config, train_config = bundle_lib.read_configs(folder)
    tokenizer = Tokenizer(str(folder / "vocab.txt"), preprocess.do_lower_case)
    task = get_task_class(task_config.task)(task_config, preprocess, tokenizer)
    with policy_scope(mixed_precision):
        model = _build(task, encoder_config, preprocess)  # layers keep the policy they were built under
    try:
        model.load_weights(str(folder / "model.weights.h5"))
    except (ValueError, OSError) as e:
        raise BertkitError(f"{folder}/model.weights.h5: cannot be loaded into the model described by its "
                           f"configs ({e}). The bundle is damaged; retrain or restore it.") from None
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").exists() else None
    return BertkitModel(model, task, encoder_config, train_config, str(folder / "vocab.txt"), folder, metrics)


@dataclasses.dataclass
class TrainResult:
    model: BertkitModel
    metrics: dict | None
    run_dir: Path | None
    stats: dict


def train(data="imdb", output=None, *, model=None, task: str = "classify", max_seq_length: int = 128,
          batch_size: int = 32, epochs: int = 3, learning_rate: float = 2e-5, train_samples: int | None = None,
          test_samples: int | None = None, seed: int = 42, truncation: str = "head+tail",
          pooling: str | None = None, mixed_precision: str = "auto", warmup_fraction: float = 0.1,
          weight_decay: float = 0.01, head_dropout: float = 0.1, eval_every_epoch: bool = True,
          verbose: bool = True, task_options: dict | None = None, accumulation_steps: int = 1,
          checkpoint_every: int = 0, keep_checkpoints: int = 3, patience: int | None = None,
          keep_best: bool = False, resume: bool = False, strategy: str = "auto",
          tpu: str | None = None, jit_compile: bool = False) -> TrainResult:
    """Fine-tunes a pretrained encoder on `data` and saves the bundle to `output/model`.

    Args:
        data: a dataset name under `$BERTKIT_DATA` (e.g. "imdb"), a folder or a training file.
        output: the run folder (bundle in `model/`, `history.jsonl`, `tensorboard/`, `metrics.json`);
            None keeps everything in memory.
        model: a pretrained encoder folder; None is the packaged all-MiniLM-L6-v2.
        task: a name registered in `bertkit.tasks.TASKS`.
        max_seq_length: tokens per example including [CLS] and [SEP].
        batch_size: examples per optimizer step (global, across replicas).
        epochs: passes over the training data.
        learning_rate: peak AdamW learning rate (linear warm-up then linear decay).
        train_samples: sample this many training examples (seeded); None uses all.
        test_samples: sample this many test examples (seeded); None uses all.
        seed: fixes sampling, data order, dropout and head initialisation.
        truncation: "head", "tail" or "head+tail" for texts longer than max_seq_length.
        pooling: "cls" (pooled_output) or "mean"; None takes the pretrained model's own choice.
        mixed_precision: "auto", "float32", "mixed_bfloat16" or "mixed_float16".
        warmup_fraction: share of steps spent in linear warm-up.
        weight_decay: AdamW decoupled weight decay (not on LayerNorm and biases).
        head_dropout: dropout before the classifier.
        eval_every_epoch: evaluate on the test split after each epoch (logged to the history).
        verbose: progress bar and summary on stderr/stdout.
        task_options: task-specific settings saved in the bundle, e.g. `{"doc_stride": 128}` for qa,
            `{"threshold": 0.5}` for multilabel (see each task's `option_defaults`).

        accumulation_steps: micro-batches of `batch_size` accumulated per optimizer step (exactly a
            `batch_size * accumulation_steps` batch, in less memory).
        checkpoint_every: also checkpoint every N optimizer steps (checkpoints are always written at
            each epoch end when there is an `output` folder).
        keep_checkpoints: how many recent checkpoints to keep.
        patience: stop after this many epochs without a better dev metric; implies `keep_best`.
        keep_best: the bundle gets the weights of the epoch with the best dev metric (choose it on a
            dev split, not on the test split you report).
        resume: continue from the last checkpoint in `output` (same command, same data order and
            learning-rate schedule position).
        strategy: "auto", "default", "mirrored", "multi-worker" or "tpu" (see `bertkit.training.strategy`).
        tpu: TPU name or address for the "tpu" strategy.
        jit_compile: compile the train step with XLA (measure: on the CPUs tried it was slower).

    Returns:
        A `TrainResult` with the trained `BertkitModel`, final metrics and the run folder.
    """
    train_config = TrainConfig(learning_rate=learning_rate, batch_size=batch_size, epochs=epochs,
                               warmup_fraction=warmup_fraction, weight_decay=weight_decay, seed=seed,
                               train_samples=train_samples, test_samples=test_samples,
                               mixed_precision=mixed_precision, accumulation_steps=accumulation_steps,
                               checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints,
                               patience=patience, keep_best=keep_best or patience is not None, strategy=strategy,
                               jit_compile=jit_compile)
    if accumulation_steps < 1 or checkpoint_every < 0 or keep_checkpoints < 1 or (patience is not None and patience < 1):
        raise BertkitError("accumulation_steps, keep_checkpoints and patience must be >= 1, checkpoint_every >= 0.")
    if batch_size < 1 or epochs < 1 or learning_rate <= 0:
        raise BertkitError("batch_size and epochs must be >= 1 and learning_rate > 0.")
    keras.utils.set_random_seed(seed)
    with policy_scope(mixed_precision) as policy:  # the global policy is restored afterwards
        task_cls = get_task_class(task)
        train_examples, test_examples, description = task_cls.read_data(
            data, train_samples=train_samples, test_samples=test_samples, seed=seed)
        model_path = resolve_model_path(model) if model is not None else default_model_path()  # a TF Hub handle too
        run_dir = Path(output) if output is not None else None
        if run_dir is not None and run_dir.exists() and any(run_dir.iterdir()) \
                and not (run_dir / "model" / "bertkit.json").exists() and not (run_dir / "history.jsonl").exists():
            raise BertkitError(f"{run_dir}: exists and is not a bertkit run folder; choose another --output.")

        strategy_name = strategy
        strategy = get_strategy(strategy_name, tpu)
        chief = is_chief()
        if resume and (run_dir is None or not (run_dir / "checkpoints" / "checkpoint").exists()):
            raise BertkitError(f"--resume: no checkpoint in {run_dir}/checkpoints to resume from.")
        if not resume and run_dir is not None and (run_dir / "checkpoints" / "checkpoint").exists():
            raise BertkitError(f"{run_dir} holds the checkpoints of an earlier run: pass --resume to continue it, "
                               "or choose a new --output.")
        with strategy.scope():
            pretrained = load_pretrained(model_path)
            if max_seq_length > pretrained.encoder_config.max_position_embeddings:
                raise BertkitError(f"--max-seq-length {max_seq_length} exceeds the model's "
                                   f"{pretrained.encoder_config.max_position_embeddings} positions.")
            preprocess = PreprocessConfig(do_lower_case=pretrained.do_lower_case, max_seq_length=max_seq_length,
                                          truncation=truncation)
            tokenizer = Tokenizer(pretrained.vocab_file, pretrained.do_lower_case)
            task_config = task_cls.configure(train_examples, pooling=pooling or pretrained.default_pooling,
                                             head_dropout=head_dropout, source=description, **(task_options or {}))
            task_obj = task_cls(task_config, preprocess, tokenizer)
            keras_model = task_obj.build_model(pretrained.encoder)
            def dataset_fn(epoch):  # a fixed order per (seed, epoch): a resumed epoch can skip what was done
                return task_obj.make_dataset(train_examples, batch_size, training=True, seed=seed * 1000 + epoch,
                                             source=description)

            eval_ds = (task_obj.make_dataset(test_examples, 64, training=False, source=description)
                       if test_examples else None)
            # Token and span tasks may make several features (windows) per example: count what the data gives.
            first = dataset_fn(1)
            num_features = sum(int(tf.shape(labels)[0]) for _, labels in first)
            options = LoopOptions(epochs=epochs, num_examples=num_features, batch_size=batch_size,
                                  accumulation_steps=accumulation_steps, checkpoint_every=checkpoint_every,
                                  clip_norm=train_config.clip_norm,
                                  patience=patience, main_metric=task_obj.main_metric(), verbose=verbose,
                                  jit_compile=jit_compile)
            dummy = next(iter(first))[0]
            keras_model(dummy, training=False)
            optimizer = create_optimizer(keras_model.trainable_variables, learning_rate,
                                         options.steps_per_epoch * epochs, warmup_fraction, weight_decay,
                                         clip_norm=None, loss_scale=policy == "mixed_float16")  # the loop clips
            optimizer.build(keras_model.trainable_variables)
            checkpointer = None
            if run_dir is not None:
                ckpt_dir = run_dir / "checkpoints" if chief else Path(tempfile.mkdtemp(prefix="bertkit-worker-"))
                checkpointer = Checkpointer(ckpt_dir, keras_model, optimizer, keep=keep_checkpoints)
                if resume:
                    checkpointer.restore_latest()

        if verbose:
            print(f"bertkit: fine-tuning {model_path} ({pretrained.source_format}, {policy}) on {description}: "
                  f"{len(train_examples)} train / {len(test_examples or [])} test examples, "
                  f"labels {list(task_config.labels)}, pooling {task_config.pooling}", file=sys.stderr)

        history = History(run_dir if chief else None)
        if resume:
            history.log("resume", int(optimizer.iterations.numpy()), checkpoint=checkpointer.latest,
                        epoch=int(checkpointer.epoch.numpy()), batch_in_epoch=int(checkpointer.batch_in_epoch.numpy()))
        test_file = resolve_data(data, "test") if test_examples else None  # recorded for `bertkit report`
        history.log("start", 0, data=description, model=str(model_path), policy=policy,
                    train_examples=len(train_examples), config=train_config.to_dict(), task=task,
                    main_metric=task_obj.main_metric(), test_data=str(test_file) if test_file else None)
        final_eval = {}  # the last evaluation's (scores, gold), saved for the report

        def on_epoch_end(epoch):
            if eval_ds is None or not (eval_every_epoch or epoch == epochs or patience is not None or keep_best):
                return {}
            start = time.perf_counter()
            scores, gold = task_obj.predict_outputs(keras_model, eval_ds)
            final_eval.update(scores=scores, gold=gold)
            m = task_obj.compute_metrics(gold, scores)
            m["eval_seconds"] = time.perf_counter() - start
            if verbose:
                main = task_obj.main_metric()
                print(f"epoch {epoch}: eval {main} {m.get(main)}", file=sys.stderr)
            return m

        try:
            stats = run_training(keras_model, task_obj, dataset_fn, optimizer, options, strategy=strategy,
                                 history=history, on_epoch_end=on_epoch_end, checkpointer=checkpointer)
            restored_best = False
            if train_config.keep_best and checkpointer is not None and stats["best_epoch"]:
                restored_best = checkpointer.restore_best()
                history.log("best", int(optimizer.iterations.numpy()), epoch=stats["best_epoch"],
                            metric=stats["best_metric"])
            epochs_logged = [r for r in history.records if r["kind"] == "epoch"]
            if restored_best or (not epochs_logged and eval_ds is not None):
                final = on_epoch_end(stats["best_epoch"] or epochs)  # the weights the bundle gets
            else:
                final = epochs_logged[-1].get("eval") if epochs_logged else None
        finally:
            history.close()
        metrics = dict(final) if final else None
        if metrics is not None:
            metrics.update(train_seconds=stats["train_seconds"],
                           train_examples_per_second=stats["examples_per_second"])
        result_model = BertkitModel(keras_model, task_obj, pretrained.encoder_config, train_config,
                                    pretrained.vocab_file, run_dir, metrics)
        if run_dir is not None and chief:
            result_model.save(run_dir / "model")
            result_model.path = run_dir / "model"
            if metrics is not None:
                atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n")
            if final_eval:
                save_eval_predictions(run_dir, final_eval["scores"], final_eval["gold"],
                                      [e.guid for e in test_examples])
        return TrainResult(result_model, metrics, run_dir, stats)
