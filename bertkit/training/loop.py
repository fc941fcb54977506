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

from bertkit.core import graph
from bertkit.core.config import TrainConfig
from bertkit.core.errors import BertkitError
from bertkit.training.checkpoints import Checkpointer
from bertkit.training.history import History
from bertkit.training.progress import Progress


@dataclasses.dataclass
class Plan:
    """The optimizer steps of an epoch: how many rows each step averages over (the last batch and the
    last accumulation group may be short)."""

    rows: int  # training rows per epoch
    batch_size: int  # global micro-batch size
    accumulation_steps: int = 1

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(self.rows / self.batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.batches_per_epoch / self.accumulation_steps)

    def group_sizes(self) -> list[int]:
        """Rows in each optimizer step of an epoch."""
        sizes = [self.batch_size] * self.batches_per_epoch
        if self.rows % self.batch_size:
            sizes[-1] = self.rows % self.batch_size
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
        # there are at most max_seq_length / 8 of them. Without it, `trace_once_for` replaces these.
        self.jit_compile = jit_compile
        self.step = graph.function(self._step, reduce_retracing=not jit_compile, jit_compile=jit_compile)
        self.micro = graph.function(self._micro, reduce_retracing=not jit_compile, jit_compile=jit_compile)
        self.apply = graph.function(self._apply)

    def trace_once_for(self, element_spec) -> None:
        """Without XLA, traces the step once for every batch the dataset can yield (any length, the
        short last batch). Left to `reduce_retracing`, the first batch's shape, then its length, then the
        last batch's size each cost a trace: 3 traces of a BERT step, 5-15 s each on a 2-core CPU, which
        is most of a small run's training time."""
        if self.jit_compile or self.step.input_signature is not None:  # XLA, or already signed
            return
        if not self.optimizer.built:
            # Built inside the first trace, its slots would make TensorFlow trace that step twice.
            with self.strategy.scope():
                self.optimizer.build(self.model.trainable_variables)
        features, labels = element_spec
        signature = (features, labels, tf.TensorSpec([], tf.int32))
        self.step = graph.function(self._step, input_signature=signature)
        self.micro = graph.function(self._micro, input_signature=signature)

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


@dataclasses.dataclass
class LoopState:
    """Where the loop is, and the early-stopping state (all of it checkpointed)."""

    epoch: int = 0  # completed epochs
    skip: int = 0  # micro-batches of the current epoch already done (resume)
    best_metric: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    train_seconds: float = 0.0
    train_examples: int = 0
    loss: float = float("nan")

    @classmethod
    def restored(cls, checkpointer: Checkpointer | None) -> LoopState:
        if checkpointer is None:
            return cls()
        return cls(epoch=int(checkpointer.epoch.numpy()), skip=int(checkpointer.batch_in_epoch.numpy()),
                   best_metric=float(checkpointer.best_metric.numpy()), best_epoch=int(checkpointer.best_epoch.numpy()),
                   bad_epochs=int(checkpointer.bad_epochs.numpy()))


def run_training(model, task, dataset_fn: Callable[[int], tf.data.Dataset], optimizer, config: TrainConfig, *,
                 num_rows: int, main_metric: str, verbose: bool, strategy: tf.distribute.Strategy,
                 history: History, on_epoch_end: Callable[[int], dict] | None = None,
                 checkpointer: Checkpointer | None = None,
                 after_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Trains `model`; resumes from `checkpointer`'s position when it was restored.

    Args:
        model: Keras model taking the encoder inputs.
        task: a `bertkit.tasks.Task` (provides `loss`).
        dataset_fn: epoch (1-based) -> `tf.data.Dataset` of `(features, labels)` micro-batches in that
            epoch's fixed order (so a resumed epoch can skip what was done).
        optimizer: built by `create_optimizer` under `strategy.scope()`.
        config: epochs, batch size, accumulation, clipping, checkpointing, early stopping.
        num_rows: training rows per epoch.
        main_metric: the evaluation metric early stopping and `keep_best` follow (higher is better).
        verbose: show a progress bar.
        strategy: the distribution strategy the model was built under.
        history: where step and epoch records go.
        on_epoch_end: called with the 1-based epoch; returns eval metrics to log (or {}).
        checkpointer: saves every `config.checkpoint_every` steps and at each epoch end; None: no checkpoints.
        after_epoch: called with the epoch and its eval metrics once the epoch is logged and checkpointed
            (epochs with an evaluation only); what it raises stops training there (bertkit tune's pruner).

    Returns:
        `{"train_seconds", "train_examples", "examples_per_second", "final_loss", "stopped_early",
        "best_epoch", "best_metric", "epochs_run", "traces"}` (traces: how often the step was traced).
    """
    fns = StepFunctions(model, task, optimizer, strategy, config.accumulation_steps, config.clip_norm,
                        config.jit_compile)
    plan = Plan(num_rows, config.batch_size, config.accumulation_steps)
    state, stopped = LoopState.restored(checkpointer), False
    for epoch in range(state.epoch + 1, config.epochs + 1):
        dataset = _without_autotune(dataset_fn(epoch).skip(state.skip))
        losses, seconds = _train_epoch(fns, dataset, plan, state, epoch, config, verbose, optimizer, history,
                                       checkpointer)
        state.skip = 0
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                  "epoch_seconds": seconds}
        _end_epoch(record, state, main_metric, on_epoch_end, optimizer, history, checkpointer)
        state.epoch = epoch
        if after_epoch is not None and record.get("eval"):
            after_epoch(epoch, record["eval"])
        if config.patience is not None and state.bad_epochs >= config.patience and epoch < config.epochs:
            stopped = True
            history.log("early_stop", int(optimizer.iterations.numpy()), epoch=epoch, best_epoch=state.best_epoch,
                        best_metric=state.best_metric, patience=config.patience)
            break
    traced = fns.micro if config.accumulation_steps > 1 else fns.step
    return {"train_seconds": state.train_seconds, "train_examples": state.train_examples,
            "examples_per_second": state.train_examples / max(state.train_seconds, 1e-9), "final_loss": state.loss,
            "stopped_early": stopped, "best_epoch": state.best_epoch,
            "best_metric": state.best_metric if state.best_epoch else None, "epochs_run": state.epoch,
            "traces": traced.experimental_get_tracing_count()}


def _without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` without tf.data's autotuning thread. The loop's datasets have no AUTOTUNE knob (a Python
    generator and a fixed prefetch), and the thread cost a stall at every epoch's end: destroying the
    iterator waits for it, and it sleeps through its optimisation period, which doubles up to 60 s. Measured
    on a 2-core Xeon: 5 of 7 identical few-shot runs idled 16 s after their last step (41 s instead of 25).
    Applied here, once, so no task's dataset can miss it."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _train_epoch(fns: StepFunctions, dataset, plan: Plan, state: LoopState, epoch: int, config: TrainConfig,
                 verbose: bool, optimizer, history: History, checkpointer) -> tuple[list[float], float]:
    """One pass over `dataset` (from micro-batch `state.skip` on); returns the optimizer steps' losses
    and the seconds it took."""
    k, sizes = plan.accumulation_steps, plan.group_sizes()
    progress = Progress(plan.steps_per_epoch, epoch, config.epochs, enabled=verbose)
    progress.start_at(state.skip // k)
    losses, batch_index, group_loss = [], state.skip, 0.0
    batches = _distribute(fns.strategy, dataset, plan.batch_size)
    fns.trace_once_for(batches.element_spec)
    for features, labels in batches:
        group = batch_index // k
        loss = _micro_step(fns, features, labels, sizes[group], k, plan.batch_size)
        batch_index += 1
        if k > 1:
            group_loss += loss
            if batch_index % k and batch_index < plan.batches_per_epoch:
                continue  # keep accumulating
            fns.apply()
            loss, group_loss = group_loss, 0.0
        _check_finite(loss, epoch, optimizer, checkpointer)
        losses.append(loss)
        state.loss = loss
        step = int(optimizer.iterations.numpy())
        lr = _current_lr(optimizer)
        progress.update(group + 1, loss, sizes[group], lr)
        if step % max(1, plan.steps_per_epoch // 50) == 0:
            history.log("train", step, epoch=epoch, loss=loss, learning_rate=lr)
        if checkpointer and config.checkpoint_every and step % config.checkpoint_every == 0 \
                and batch_index < plan.batches_per_epoch:
            checkpointer.epoch.assign(epoch - 1)
            checkpointer.batch_in_epoch.assign(batch_index)
            checkpointer.save()
    state.train_seconds += progress.elapsed
    state.train_examples += progress.examples
    return losses, progress.elapsed


def _micro_step(fns: StepFunctions, features, labels, group_size: int, k: int, batch_size: int) -> float:
    try:
        size = tf.constant(group_size, tf.int32)
        return float(fns.step(features, labels, size) if k == 1 else fns.micro(features, labels, size))
    except tf.errors.ResourceExhaustedError:
        raise BertkitError(
            f"out of memory at batch size {batch_size}: lower --max-seq-length or use a smaller "
            "--batch-size with --accumulation-steps (same effective batch, less memory).") from None


def _check_finite(loss: float, epoch: int, optimizer, checkpointer) -> None:
    if not math.isfinite(loss):
        last = checkpointer.latest if checkpointer else None
        raise BertkitError(
            f"training diverged: the loss became {loss} at epoch {epoch}, optimizer step "
            f"{int(optimizer.iterations.numpy())}. Lower --learning-rate or check the labels. "
            + (f"The last good checkpoint is {last}." if last else "No checkpoint was written."))


def _end_epoch(record: dict, state: LoopState, main_metric: str, on_epoch_end, optimizer, history: History,
               checkpointer) -> None:
    """Evaluates, tracks the best epoch, logs the epoch and checkpoints the loop position."""
    epoch = record["epoch"]
    metrics = on_epoch_end(epoch) if on_epoch_end is not None else {}
    if metrics:
        record["eval"] = metrics
    value = metrics.get(main_metric) if metrics else None
    if value is not None and value > state.best_metric:
        state.best_metric, state.best_epoch, state.bad_epochs = float(value), epoch, 0
        if checkpointer:
            checkpointer.epoch.assign(epoch)
            checkpointer.save_best()
    elif value is not None:
        state.bad_epochs += 1
    history.log("epoch", int(optimizer.iterations.numpy()), **record)
    if checkpointer:
        checkpointer.epoch.assign(epoch)
        checkpointer.batch_in_epoch.assign(0)
        checkpointer.best_metric.assign(state.best_metric)
        checkpointer.best_epoch.assign(state.best_epoch)
        checkpointer.bad_epochs.assign(state.bad_epochs)
        checkpointer.save()


def _distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset, global_batch: int):
    """Splits each global batch across the replicas, keeping the single-process order of examples.

    With several workers, TensorFlow's automatic sharding would shard the examples before the shuffle, so
    each optimizer step would see other examples than a single process does. Instead every worker reads
    the same (seeded) global batches and takes its own contiguous slice of each.
    """
    workers = _num_workers(strategy)
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


def _num_workers(strategy: tf.distribute.Strategy) -> int:
    """Worker processes of a multi-worker strategy (from its cluster spec), else 1."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or strategy.cluster_resolver is None:
        return 1
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


def _current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(lr.numpy()) if hasattr(lr, "numpy") else float(lr)
