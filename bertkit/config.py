"""One frozen config dataclass per concern, each saved as JSON next to every model.

* `EncoderConfig`: the BERT architecture (what `config.json` / `bert_config.json` describe).
* `PreprocessConfig`: vocabulary casing, sequence length and truncation: everything needed to turn
  raw text into the exact ids the model was trained on.
* `TaskConfig`: the task type, its labels and head options.
* `TrainConfig`: optimisation and data-sampling settings of a run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bertkit.errors import BertkitError

T = TypeVar("T", bound="JsonConfig")


class JsonConfig:
    """Mixin: JSON load/save with errors that name the file and the offending key."""

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], source: str = "<dict>") -> T:
        if not isinstance(data, dict):
            raise BertkitError(f"{source}: expected a JSON object for {cls.__name__}, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise BertkitError(
                f"{source}: unknown key(s) {unknown} for {cls.__name__}; known keys are {sorted(names)}."
            )
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**kwargs)
        except TypeError as e:  # a required key is missing
            raise BertkitError(f"{source}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def load(cls: type[T], path: str | os.PathLike) -> T:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise BertkitError(f"{path}: file not found (expected a {cls.__name__} JSON file).") from None
        except json.JSONDecodeError as e:
            raise BertkitError(f"{path}:{e.lineno}: not valid JSON ({e.msg}).") from None
        return cls.from_dict(data, source=str(path))

    def save(self, path: str | os.PathLike) -> None:
        from bertkit.io_utils import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class EncoderConfig(JsonConfig):
    """BERT architecture. Defaults are BERT-base."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"  # exact erf GELU, as BERT and HF "gelu"
    dropout: float = 0.1  # hidden dropout
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise BertkitError(
                f"EncoderConfig: hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}."
            )


TRUNCATIONS = ("head", "tail", "head+tail")


@dataclass(frozen=True)
class PreprocessConfig(JsonConfig):
    """How raw text becomes ids. Saved in the bundle so inference uses exactly the training setup."""

    do_lower_case: bool = True
    max_seq_length: int = 128
    truncation: str = "head+tail"  # for single texts longer than the budget
    head_fraction: float = 0.25  # head+tail: share of the token budget kept from the start

    def __post_init__(self):
        if self.truncation not in TRUNCATIONS:
            raise BertkitError(f"truncation must be one of {TRUNCATIONS}, got {self.truncation!r}.")
        if self.max_seq_length < 3:
            raise BertkitError(f"max_seq_length must be at least 3, got {self.max_seq_length}.")
        if not 0.0 <= self.head_fraction <= 1.0:
            raise BertkitError(f"head_fraction must be in [0, 1], got {self.head_fraction}.")


@dataclass(frozen=True)
class TaskConfig(JsonConfig):
    """The task type and what its head needs."""

    task: str = "classify"
    labels: tuple = ()  # label names (str), in id order
    label_type: str = "str"  # "int" or "str": the type the labels had in the training data
    pooling: str = "cls"  # "cls": the encoder's pooled_output; "mean": masked mean of sequence_output
    head_dropout: float = 0.1
    is_pair: bool = False
    extra: dict = field(default_factory=dict)  # task-specific options (threshold, doc_stride, ...)


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Optimisation and sampling. Defaults follow the tutorial."""

    learning_rate: float = 2e-5
    batch_size: int = 32
    epochs: int = 3
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    seed: int = 42
    train_samples: int | None = None
    test_samples: int | None = None
    mixed_precision: str = "auto"  # "auto" | "float32" | "mixed_bfloat16" | "mixed_float16"
    accumulation_steps: int = 1  # micro-batches of batch_size per optimizer step
    checkpoint_every: int = 0  # optimizer steps between checkpoints (0: at epoch ends only)
    keep_checkpoints: int = 3
    patience: int | None = None  # early stopping on the dev metric
    keep_best: bool = False  # the bundle gets the best epoch's weights (implied by patience)
    strategy: str = "auto"
    jit_compile: bool = False  # XLA for the train step (slower on the CPUs measured; try it on GPUs)
    log_every: int = 10  # kept so bundles written before this field set was revised still load
