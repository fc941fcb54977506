"""The hand-written training loop: `tf.GradientTape` inside a `tf.function`, run by a
`tf.distribute.Strategy` (the default strategy on one device), as the tutorial's loop but without
the Estimator.

The loop knows only the task's `loss` and the model. Each optimizer step averages the per-example
losses over the examples of the whole step (all replicas, all accumulated micro-batches), so the update
is the same whatever the number of replicas or accumulation steps.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from bertkit.errors import BertkitError
from bertkit.training.checkpoints import Checkpointer
from bertkit.training.history import History
from bertkit.training.progress import Progress


@dataclasses.dataclass
class LoopOptions:
    """How the loop runs (all but `epochs` have safe defaults)."""

    epochs: int
    num_examples: int  # training examples per epoch
    batch_size: int  # global micro-batch size
    accumulation_steps: int = 1  # micro-batches per optimizer step
    checkpoint_every: int = 0  # optimizer steps between checkpoints (0: only at epoch ends)
    clip_norm: float | None = 1.0  # global-norm clipping of the step's summed gradient
    patience: int | None = None  # stop after this many epochs without a better dev metric
    main_metric: str = "accuracy"  # higher is better
    verbose: bool = True
    jit_compile: bool = False  # compile the train step with XLA

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(self.num_examples / self.batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.batches_per_epoch / self.accumulation_steps)

    def group_sizes(self) -> list[int]:
        """Examples in each optimizer step of an epoch (the last batch and group may be short)."""
        sizes = [self.batch_size] * self.batches_per_epoch
        if self.num_examples % self.batch_size:
            sizes[-1] = self.num_examples % self.batch_size
        k = self.accumulation_steps
        return [sum(sizes[i:i + k]) for i in range(0, len(sizes), k)]


class StepFunctions:
    """The compiled micro-step / apply functions for one model, task, optimizer and strategy."""

    def __init__(self, model, task, optimizer, strategy: tf.distribute.Strategy, accumulation_steps: int,
                 clip_norm: float | None = 1.0, jit_compile: bool = False):
        self.model, self.task, self.optimizer, self.strategy = model, task, optimizer, strategy
        self.clip_norm = clip_norm
        self.accumulate = accumulation_steps > 1
        self.scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        if self.accumulate:
            with strategy.scope():
                # Replica-local sums of gradients (ON_READ: each replica keeps its own copy).
                self.sums = [tf.Variable(tf.zeros_like(v), trainable=False,
                                         synchronization=tf.VariableSynchronization.ON_READ,
                                         aggregation=tf.VariableAggregation.SUM)
                             for v in model.trainable_variables]
        # With XLA every distinct batch shape compiles once; bucketed lengths are multiples of 8, so
        # there are at most max_seq_length / 8 of them.
        self.step = tf.function(self._step, reduce_retracing=not jit_compile, jit_compile=jit_compile)
        self.micro = tf.function(self._micro, reduce_retracing=not jit_compile, jit_compile=jit_compile)
        self.apply = tf.function(self._apply)

    def _grads(self, features, labels, group_size):
        with tf.GradientTape() as tape:
            outputs = self.model(features, training=True)
            per_example = self.task.loss(labels, outputs)  # [B_replica]
            loss = tf.reduce_sum(per_example) / tf.cast(group_size, per_example.dtype)
            target = self.optimizer.scale_loss(loss) if self.scaled else loss
        variables = self.model.trainable_variables
        return loss, tape.gradient(target, variables), variables

    def _apply_pairs(self, grads, variables):
        """Clips the gradient summed over all replicas, then updates (in replica context).

        Keras optimizers clip each replica's own gradient before their all-reduce, which is not the
        clipping of the global batch's gradient; so the loop reduces and clips itself. Variables outside
        the loss path (the pooler under mean pooling) have no gradient and are left alone.
        """
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        # Embedding gradients arrive as IndexedSlices with one row per token occurrence; Keras 3's Adam
        # on TensorFlow does not sum duplicate rows, so frequent tokens got oversized updates. Dense
        # gradients are exact (and the moments of the whole table are updated every step anyway).
        grads, variables = [tf.convert_to_tensor(g) for g, _ in pairs], [v for _, v in pairs]
        n = self.strategy.num_replicas_in_sync
        if n > 1:
            grads = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)
        if self.clip_norm:
            limit = self.clip_norm
            if self.scaled:  # gradients are still multiplied by the loss scale here
                limit = limit * tf.cast(self.optimizer.dynamic_scale, tf.float32)
            grads, _ = tf.clip_by_global_norm(grads, limit)
        if n > 1:
            grads = [g / n for g in grads]  # the optimizer's own all-reduce sums the n equal copies
        self.optimizer.apply_gradients(zip(grads, variables))

    def _step(self, features, labels, group_size):
        def replica(features, labels):
            loss, grads, variables = self._grads(features, labels, group_size)
            self._apply_pairs(grads, variables)
            return loss

        per_replica = self.strategy.run(replica, args=(features, labels))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _micro(self, features, labels, group_size):
        def replica(features, labels):
            loss, grads, _ = self._grads(features, labels, group_size)
            # Which variables get a gradient is known when tracing; `_apply` updates only those.
            self.has_grad = [g is not None for g in grads]
            for s, g in zip(self.sums, grads):
                if g is not None:
                    s.assign_add(tf.convert_to_tensor(g))
            return loss

        per_replica = self.strategy.run(replica, args=(features, labels))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _apply(self):
        def replica():
            variables = self.model.trainable_variables
            self._apply_pairs([s.read_value() if used else None for s, used in zip(self.sums, self.has_grad)],
                              variables)
            for s in self.sums:
                s.assign(tf.zeros_like(s))

        self.strategy.run(replica)


def run_training(model, task, dataset_fn: Callable[[int], tf.data.Dataset], optimizer, options: LoopOptions, *,
                 strategy: tf.distribute.Strategy, history: History,
                 on_epoch_end: Callable[[int], dict] | None = None,
                 checkpointer: Checkpointer | None = None) -> dict:
    """Trains `model`; resumes from `checkpointer`'s position when it was restored.

    Args:
        model: Keras model taking the encoder inputs.
        task: a `bertkit.tasks.Task` (provides `loss`).
        dataset_fn: epoch (1-based) -> `tf.data.Dataset` of `(features, labels)` micro-batches in that
            epoch's fixed order (so a resumed epoch can skip what was done).
        optimizer: built by `create_optimizer` under `strategy.scope()`.
        options: epochs, sizes, accumulation, checkpointing, early stopping.
        strategy: the distribution strategy the model was built under.
        history: where step and epoch records go.
        on_epoch_end: called with the 1-based epoch; returns eval metrics to log (or {}).
        checkpointer: saves every `options.checkpoint_every` steps and at each epoch end; None: no checkpoints.

    Returns:
        `{"train_seconds", "train_examples", "examples_per_second", "final_loss", "stopped_early",
        "best_epoch", "best_metric", "epochs_run", "traces"}` (traces: how often the step was traced).
    """
    fns = StepFunctions(model, task, optimizer, strategy, options.accumulation_steps, options.clip_norm,
                        options.jit_compile)
    sizes = options.group_sizes()
    k = options.accumulation_steps
    start_epoch = int(checkpointer.epoch.numpy()) + 1 if checkpointer else 1
    skip = int(checkpointer.batch_in_epoch.numpy()) if checkpointer else 0
    train_seconds, train_examples, loss_value, stopped = 0.0, 0, float("nan"), False
    best_metric, best_epoch = (float(checkpointer.best_metric.numpy()), int(checkpointer.best_epoch.numpy())) \
        if checkpointer else (-math.inf, 0)
    bad_epochs = int(checkpointer.bad_epochs.numpy()) if checkpointer else 0
    epoch = start_epoch - 1
    for epoch in range(start_epoch, options.epochs + 1):
        progress = Progress(options.steps_per_epoch, epoch, options.epochs, enabled=options.verbose)
        progress.start_at(skip // k)
        losses = []
        dataset = dataset_fn(epoch).skip(skip)
        batch_index = skip
        group_loss = 0.0
        for features, labels in _distribute(strategy, dataset, options.batch_size):
            group = batch_index // k
            size = tf.constant(sizes[group], tf.int32)
            try:
                if k == 1:
                    loss_value = float(fns.step(features, labels, size))
                else:
                    group_loss += float(fns.micro(features, labels, size))
            except tf.errors.ResourceExhaustedError:
                raise BertkitError(
                    f"out of memory at batch size {options.batch_size}: lower --max-seq-length or use a smaller "
                    "--batch-size with --accumulation-steps (same effective batch, less memory).") from None
            batch_index += 1
            if k > 1 and batch_index % k and batch_index < options.batches_per_epoch:
                continue  # keep accumulating
            if k > 1:
                fns.apply()
                loss_value, group_loss = group_loss, 0.0
            if not math.isfinite(loss_value):
                last = checkpointer.latest if checkpointer else None
                raise BertkitError(
                    f"training diverged: the loss became {loss_value} at epoch {epoch}, optimizer step "
                    f"{int(optimizer.iterations.numpy())}. Lower --learning-rate or check the labels. "
                    + (f"The last good checkpoint is {last}." if last else "No checkpoint was written."))
            losses.append(loss_value)
            step = int(optimizer.iterations.numpy())
            lr = _current_lr(optimizer)
            progress.update(group + 1, loss_value, sizes[group], lr)
            if step % max(1, options.steps_per_epoch // 50) == 0:
                history.log("train", step, epoch=epoch, loss=loss_value, learning_rate=lr)
            if checkpointer and options.checkpoint_every and step % options.checkpoint_every == 0 \
                    and batch_index < options.batches_per_epoch:
                checkpointer.epoch.assign(epoch - 1)
                checkpointer.batch_in_epoch.assign(batch_index)
                checkpointer.save()
        skip = 0
        train_seconds += progress.elapsed
        train_examples += progress.examples
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                  "epoch_seconds": progress.elapsed}
        metrics = on_epoch_end(epoch) if on_epoch_end is not None else {}
        if metrics:
            record["eval"] = metrics
        value = metrics.get(options.main_metric) if metrics else None
        if value is not None and value > best_metric:
            best_metric, best_epoch, bad_epochs = float(value), epoch, 0
            if checkpointer:
                checkpointer.epoch.assign(epoch)
                checkpointer.save_best()
        elif value is not None:
            bad_epochs += 1
        history.log("epoch", int(optimizer.iterations.numpy()), **record)
        if checkpointer:
            checkpointer.epoch.assign(epoch)
            checkpointer.batch_in_epoch.assign(0)
            checkpointer.best_metric.assign(best_metric)
            checkpointer.best_epoch.assign(best_epoch)
            checkpointer.bad_epochs.assign(bad_epochs)
            checkpointer.save()
        if options.patience is not None and bad_epochs >= options.patience and epoch < options.epochs:
            stopped = True
            history.log("early_stop", int(optimizer.iterations.numpy()), epoch=epoch, best_epoch=best_epoch,
                        best_metric=best_metric, patience=options.patience)
            break
    traced = fns.micro if k > 1 else fns.step
    return {"train_seconds": train_seconds, "train_examples": train_examples,
            "examples_per_second": train_examples / max(train_seconds, 1e-9), "final_loss": loss_value,
            "stopped_early": stopped, "best_epoch": best_epoch,
            "best_metric": best_metric if best_epoch else None, "epochs_run": epoch,
            "traces": traced.experimental_get_tracing_count()}  # bounded: batch lengths are multiples of 8


def _distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset, global_batch: int):
    """Splits each global batch across the replicas, keeping the single-process order of examples.

    With several workers, TensorFlow's automatic sharding would shard the examples before the shuffle, so
    each optimizer step would see other examples than a single process does. Instead every worker reads
    the same (seeded) global batches and takes its own contiguous slice of each.
    """
    workers = getattr(strategy.extended, "_num_workers", 1)
    if workers <= 1:
        return strategy.experimental_distribute_dataset(dataset)
    local = max(1, strategy.num_replicas_in_sync // workers)

    def dataset_for_worker(context: tf.distribute.InputContext):
        n, i = context.num_input_pipelines, context.input_pipeline_id

        def take(features, labels):
            size = tf.shape(labels)[0]
            per = (size + n - 1) // n
            lo = tf.minimum(i * per, size)
            hi = tf.minimum(lo + per, size)
            return tf.nest.map_structure(lambda t: t[lo:hi], (features, labels))

        ds = dataset.map(take)
        if local > 1:  # successive batches go to this worker's local replicas
            ds = ds.unbatch().batch(math.ceil(global_batch / n / local))
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(opts)

    return strategy.distribute_datasets_from_function(dataset_for_worker)


def _current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(lr.numpy()) if hasattr(lr, "numpy") else float(lr)
