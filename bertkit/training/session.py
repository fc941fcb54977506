"""A fine-tuning run in four named steps: `prepare` (data, model folder, run folder, strategy), `build`
(encoder, task, model, training rows, optimizer, checkpoints), `fit` (the loop with an evaluation per
epoch) and `finish` (the bundle, metrics and evaluation predictions, written atomically).

`bertkit.train` (`bertkit.api`) calls `run`; the CLI's `bertkit train` calls `bertkit.train`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf

from bertkit.core import bundle as bundle_lib
from bertkit.core.config import PreprocessConfig, TaskConfig, TrainConfig
from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_write_text
from bertkit.core.precision import policy_scope
from bertkit.data import ExampleSplits, resolve_data, sample_per_class
from bertkit.report.predictions import save_eval_predictions
from bertkit.tasks import get_task_class
from bertkit.tasks.runner import TaskRunner
from bertkit.training.checkpoints import Checkpointer
from bertkit.training.history import History
from bertkit.training.loop import run_training
from bertkit.training.optimizer import create_optimizer
from bertkit.training.strategy import get_strategy, is_chief
from bertkit.weights import default_model_path, load_pretrained, resolve_model_path


@dataclasses.dataclass
class Run:
    """What a run is about: its settings, data and folders (`prepare`)."""

    data: object  # the dataset name, folder or file
    config: TrainConfig
    preprocess: PreprocessConfig  # do_lower_case is filled in by `build`, from the pretrained model
    head: dict  # pooling (None: the model's own), head_dropout
    task_cls: type
    task_options: dict
    train_examples: list
    test_examples: list | None
    description: str
    model_path: Path
    run_dir: Path | None
    resume: bool
    verbose: bool
    strategy: tf.distribute.Strategy = None
    policy: str = "float32"
    on_epoch: object = None  # called with (epoch, eval metrics) after each epoch's evaluation (`bertkit.train`)


@dataclasses.dataclass
class Built:
    """The objects a run trains (`build`)."""

    pretrained: object
    task: object
    model: keras.Model
    runner: TaskRunner
    features: object  # FeatureSet of the training rows
    optimizer: keras.optimizers.Optimizer
    checkpointer: Checkpointer | None


@dataclasses.dataclass
class Outcome:
    """What `run` returns: the trained parts, the final metrics and the loop's statistics."""

    model: keras.Model
    task: object
    encoder_config: object
    tokenizer: object
    run_dir: Path | None
    metrics: dict | None
    stats: dict


def run(data, output, *, model, task: str, task_options: dict, config: TrainConfig, preprocess: PreprocessConfig,
        head: dict, resume: bool, verbose: bool, on_epoch=None) -> Outcome:
    """Fine-tunes the pretrained encoder `model` on `data` (see `bertkit.train`)."""
    keras.utils.set_random_seed(config.seed)
    with policy_scope(config.mixed_precision) as policy:  # the global policy is restored afterwards
        r = prepare(data, output, model=model, task=task, task_options=task_options, config=config,
                    preprocess=preprocess, head=head, resume=resume, verbose=verbose)
        r.policy, r.on_epoch = policy, on_epoch
        b = build(r)
        metrics, stats, final_eval = fit(r, b)
        return finish(r, b, metrics, stats, final_eval)


def prepare(data, output, *, model, task, task_options, config, preprocess, head, resume, verbose) -> Run:
    """Reads the data, finds the model folder, checks the run folder and picks the strategy."""
    task_cls = get_task_class(task)
    if (config.samples_per_class or config.method != "fine-tune") and task != "classify":
        raise BertkitError(f"--samples-per-class and --method {config.method} are for --task classify, not {task}.")
    if isinstance(data, ExampleSplits):  # read (and sampled) by the caller
        train_examples, test_examples, description = data.train, data.test, data.description
        task_cls.check_examples(train_examples, description)
    else:
        train_examples, test_examples, description = task_cls.read_data(
            data, train_samples=config.train_samples, test_samples=config.test_samples, seed=config.seed)
    if config.samples_per_class:
        train_examples = sample_per_class(train_examples, config.samples_per_class, config.seed)
        description += f"; {config.samples_per_class} per label: {len(train_examples)} examples (seed {config.seed})"
    if config.method == "few-shot":
        task_options = {**(task_options or {}), "normalize": "on"}  # SetFit's sentence-transformers embeddings
    model_path = resolve_model_path(model) if model is not None else Path(default_model_path())
    run_dir = Path(output) if output is not None else None
    _check_run_dir(run_dir, resume)
    r = Run(data, config, preprocess, head, task_cls, task_options or {}, train_examples, test_examples, description,
            model_path, run_dir, resume, verbose)
    r.strategy = get_strategy(config.strategy, config.tpu)
    return r


def _check_run_dir(run_dir: Path | None, resume: bool) -> None:
    if run_dir is not None and run_dir.exists() and any(run_dir.iterdir()) \
            and not (run_dir / "model" / "bertkit.json").exists() and not (run_dir / "history.jsonl").exists():
        raise BertkitError(f"{run_dir}: exists and is not a bertkit run folder; choose another --output.")
    has_checkpoint = run_dir is not None and (run_dir / "checkpoints" / "checkpoint").exists()
    if resume and not has_checkpoint:
        raise BertkitError(f"--resume: no checkpoint in {run_dir}/checkpoints to resume from.")
    if not resume and has_checkpoint:
        raise BertkitError(f"{run_dir} holds the checkpoints of an earlier run: pass --resume to continue it, "
                           "or choose a new --output.")


def build(r: Run) -> Built:
    """Under the strategy's scope: the pretrained encoder, the task and its model, the training rows,
    the optimizer and (with a run folder) the checkpoints, restored when resuming."""
    c = r.config
    with r.strategy.scope():
        pretrained = load_pretrained(r.model_path)
        if r.preprocess.max_seq_length > pretrained.encoder_config.max_seq_length:
            raise BertkitError(f"--max-seq-length {r.preprocess.max_seq_length} exceeds the model's "
                               f"{pretrained.encoder_config.max_seq_length} positions.")
        tokenizer = pretrained.tokenizer
        tokenizer.template.check_types(pretrained.encoder_config.type_vocab_size, r.model_path)
        r.preprocess = dataclasses.replace(r.preprocess, do_lower_case=tokenizer.do_lower_case)
        task_config = r.task_cls.configure(r.train_examples, pooling=r.head.get("pooling") or pretrained.default_pooling,
                                           head_dropout=r.head.get("head_dropout", TaskConfig().head_dropout), source=r.description,
                                           **r.task_options)
        task = r.task_cls(task_config, r.preprocess, tokenizer)
        model = task.build_model(pretrained.encoder)
        runner = TaskRunner(task, model)
        features = runner.features(r.train_examples)  # every row once; epochs only reorder them
        model({k: tf.zeros((1, 8), tf.int32) for k in task.model_input_names()}, training=False)
        optimizer, checkpointer = None, None
        if c.method == "few-shot":  # its own optimizer, over pairs (tasks.classify.few_shot); no checkpoints
            if r.resume or c.checkpoint_every or c.keeps_best:
                raise BertkitError("--method few-shot trains in one pass: --resume, --checkpoint-every, --patience "
                                   "and --keep-best do not apply.")
            return Built(pretrained, task, model, runner, features, optimizer, checkpointer)
        steps = _steps_per_epoch(len(features), c) * c.epochs
        optimizer = create_optimizer(model.trainable_variables, c.learning_rate, steps, c.warmup_fraction,
                                     c.weight_decay, clip_norm=None,  # the loop clips the global gradient
                                     loss_scale=r.policy == "mixed_float16")
        optimizer.build(model.trainable_variables)
        if r.run_dir is not None:
            folder = r.run_dir / "checkpoints" if is_chief() else Path(tempfile.mkdtemp(prefix="bertkit-worker-"))
            checkpointer = Checkpointer(folder, model, optimizer, keep=c.keep_checkpoints)
            if r.resume:
                checkpointer.restore_latest()
    return Built(pretrained, task, model, runner, features, optimizer, checkpointer)


def _steps_per_epoch(rows: int, c: TrainConfig) -> int:
    batches = -(-rows // c.batch_size)
    return -(-batches // c.accumulation_steps)


def fit(r: Run, b: Built):
    """The training loop, evaluating after each epoch (logged); restores the best epoch when asked."""
    c, task = r.config, b.task
    if r.verbose:
        print(f"bertkit: fine-tuning {r.model_path} ({b.pretrained.source_format}, {r.policy}) on {r.description}: "
              f"{len(r.train_examples)} train / {len(r.test_examples or [])} test examples, "
              f"labels {list(task.config.labels)}, pooling {task.config.pooling}", file=sys.stderr)
    history = History(r.run_dir if is_chief() else None)
    if r.resume:
        ck = b.checkpointer
        history.log("resume", int(b.optimizer.iterations.numpy()), checkpoint=ck.latest,
                    epoch=int(ck.epoch.numpy()), batch_in_epoch=int(ck.batch_in_epoch.numpy()))
    test_file = _test_file(r.data) if r.test_examples else None  # recorded for `bertkit report`
    history.log("start", 0, data=r.description, model=str(r.model_path), policy=r.policy,
                train_examples=len(r.train_examples), config=c.to_dict(), task=task.name,
                main_metric=task.main_metric(), test_data=str(test_file) if test_file else None,
                train_data=_train_file(r.data))
    final_eval = {}  # the last evaluation's predictions, saved for the report

    def on_epoch_end(epoch):
        if not r.test_examples or not (c.eval_every_epoch or epoch == c.epochs or c.keeps_best):
            return {}
        start = time.perf_counter()
        predictions = b.runner.predict(r.test_examples)
        final_eval["predictions"] = predictions
        m = task.compute_metrics(task.gold(r.test_examples), predictions)
        m["eval_seconds"] = time.perf_counter() - start
        if r.verbose:
            print(f"epoch {epoch}: eval {task.main_metric()} {m.get(task.main_metric())}", file=sys.stderr)
        return m

    try:
        if c.method == "few-shot":
            from bertkit.tasks.classify.few_shot import tune_and_fit

            stats = tune_and_fit(r, b, history)
            stats["best_epoch"] = 0
        else:
            stats = run_training(b.model, task, lambda epoch: _epoch_dataset(b, c, epoch), b.optimizer, c,
                                 num_rows=len(b.features), main_metric=task.main_metric(), verbose=r.verbose,
                                 strategy=r.strategy, history=history, on_epoch_end=on_epoch_end,
                                 checkpointer=b.checkpointer, after_epoch=r.on_epoch)
        metrics = _final_metrics(r, b, history, stats, on_epoch_end)
    finally:
        history.close()
    return metrics, stats, final_eval


def _test_file(data):
    if isinstance(data, ExampleSplits):
        return data.test_file
    return resolve_data(data, "test")


def _train_file(data) -> str | None:
    """The training file, recorded so `bertkit export --quantize int8` can calibrate on it."""
    return str(resolve_data(data, "train")) if isinstance(data, (str, Path)) else None  # tune's splits: none


def _epoch_dataset(b: Built, c: TrainConfig, epoch: int):
    """A fixed row order per (seed, epoch): a resumed epoch can skip what was done."""
    from bertkit.data.batching import training_dataset

    return training_dataset(b.features, c.batch_size, c.seed * 1000 + epoch)


def _final_metrics(r: Run, b: Built, history: History, stats: dict, on_epoch_end) -> dict | None:
    """The metrics of the weights the bundle gets: the last epoch's, or the best epoch's when kept."""
    restored = False
    if r.config.keeps_best and b.checkpointer is not None and stats["best_epoch"]:
        restored = b.checkpointer.restore_best()
        history.log("best", int(b.optimizer.iterations.numpy()), epoch=stats["best_epoch"],
                    metric=stats["best_metric"])
    epochs = [rec for rec in history.records if rec["kind"] == "epoch"]
    if restored or (r.test_examples and not (epochs and epochs[-1].get("eval"))):  # e.g. few-shot: after the head
        final = on_epoch_end(stats["best_epoch"] or r.config.epochs)
    else:
        final = epochs[-1].get("eval") if epochs else None
    if not final:
        return None
    return {**final, "train_seconds": stats["train_seconds"], "train_examples_per_second": stats["examples_per_second"]}


def finish(r: Run, b: Built, metrics: dict | None, stats: dict, final_eval: dict) -> Outcome:
    """Writes the bundle to `RUN/model`, `RUN/metrics.json` and the evaluation predictions (chief only)."""
    outcome = Outcome(b.model, b.task, b.pretrained.encoder_config, b.task.tokenizer, r.run_dir, metrics, stats)
    if r.run_dir is None or not is_chief():
        return outcome
    bundle_lib.save_bundle(r.run_dir / "model", model=b.model, encoder_config=b.pretrained.encoder_config,
                           preprocess=b.task.preprocess, task_config=b.task.config, train_config=r.config,
                           tokenizer=b.task.tokenizer, metrics=metrics, source=str(r.run_dir))
    if metrics is not None:
        atomic_write_text(r.run_dir / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n")
    if final_eval:
        save_eval_predictions(r.run_dir, b.task.scores(final_eval["predictions"]), b.task.gold(r.test_examples),
                              [e.guid for e in r.test_examples])
    return outcome
