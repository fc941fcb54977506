"""AdamW as BERT fine-tuning uses it: warm-up + linear decay, no decay on LayerNorm and biases."""

from __future__ import annotations

import math

import keras

from bertkit.training.schedule import WarmupLinearDecay


def uses_weight_decay(variable) -> bool:
    """BERT's optimization.py decays every weight except LayerNorm parameters and biases.

    Keras 3 names a LayerNorm's parameters `gamma`/`beta` and a Dense bias `bias`; the path is checked
    too so that a loader's own naming (`.../layer_norm/...`) is covered.
    """
    path = variable.path.lower()
    return not (variable.name in ("bias", "beta", "gamma") or "norm" in path or path.endswith("bias"))


def create_optimizer(variables, learning_rate: float, total_steps: int, warmup_fraction: float = 0.1,
                     weight_decay: float = 0.01, clip_norm: float | None = 1.0,
                     loss_scale: bool = False) -> keras.optimizers.Optimizer:
    """Builds the fine-tuning optimizer.

    Args:
        variables: the trainable variables (used to pick those excluded from weight decay).
        learning_rate: peak learning rate.
        total_steps: optimizer steps of the run (after gradient accumulation).
        warmup_fraction: share of `total_steps` spent warming up linearly from 0.
        weight_decay: decoupled weight decay (AdamW), skipped for LayerNorm and bias variables.
        clip_norm: clip gradients to this global norm before the update; None disables clipping.
        loss_scale: wrap in a dynamic `LossScaleOptimizer` (float16 mixed precision).

    Returns:
        A Keras 3 AdamW optimizer.
    """
    schedule = WarmupLinearDecay(learning_rate, total_steps, math.ceil(total_steps * warmup_fraction))
    opt = keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=weight_decay, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
        global_clipnorm=clip_norm,
    )
    opt.exclude_from_weight_decay(var_list=[v for v in variables if not uses_weight_decay(v)])
    return keras.optimizers.LossScaleOptimizer(opt) if loss_scale else opt
