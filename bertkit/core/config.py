"""One frozen config dataclass per concern, each saved as JSON next to every model.

* `EncoderConfig`: the encoder architecture (what `config.json` / `bert_config.json` describe).
* `PreprocessConfig`: casing, sequence length and truncation: everything needed to turn raw text into
  the exact ids the model was trained on.
* `TaskConfig`: the task type, its labels, its head and its task options.
* `TrainConfig`: optimisation and data-sampling settings of a run.
* `InferenceConfig`: how `predict`, `evaluate` and the report run a trained model.

Every user-settable field is declared once, with `option(default, help, ...)`: its default, its check
and its help text. The CLI flags are generated from these fields (`bertkit.cli`), `bertkit.train(...)`
takes the same names, and a bad value raises one `BertkitError` naming the flag.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bertkit.core.errors import BertkitError

T = TypeVar("T", bound="JsonConfig")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
TRUNCATIONS = ("head", "tail", "head+tail")
STRATEGIES = ("auto", "default", "mirrored", "multi-worker", "tpu")
POOLINGS = ("cls", "mean")


def option(default, help: str, *, choices: tuple | None = None, minimum=None, above=None, maximum=None,
           flag: str | None = None, cli: bool = True, derived: bool = False, unset: str | None = None):
    """A config field with what the CLI and the checks need.

    Args:
        default: the default value.
        help: one line for `--help`.
        choices: allowed values.
        minimum, maximum: inclusive bounds; above: exclusive lower bound.
        flag: the CLI flag when it is not `--field-name`.
        cli: False for an option of the Python API only.
        derived: True for fields bertkit sets itself (from the pretrained model or the data).
        unset: for a field whose CLI default is "not given" (None): what happens then.
    """
    meta = {"help": help, "choices": choices, "minimum": minimum, "above": above, "maximum": maximum,
            "flag": flag, "cli": cli and not derived, "derived": derived, "unset": unset}
    return field(default=default, metadata=meta)


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


class JsonConfig:
    """Mixin: checks from `option` metadata; JSON load/save with errors naming the file and key."""

    LEGACY_KEYS: frozenset = frozenset()  # keys of older bundles that are read and ignored

    def __post_init__(self):
        for f in dataclasses.fields(self):
            _check(f, getattr(self, f.name))

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], source: str = "<dict>") -> T:
        if not isinstance(data, dict):
            raise BertkitError(f"{source}: expected a JSON object for {cls.__name__}, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names - cls.LEGACY_KEYS)
        if unknown:
            raise BertkitError(
                f"{source}: unknown key(s) {unknown} for {cls.__name__}; known keys are {sorted(names)}."
            )
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        try:
            return cls(**kwargs)
        except TypeError as e:  # a required key is missing
            raise BertkitError(f"{source}: {e}") from None
        except BertkitError as e:
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
        from bertkit.core.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        """The fields a user sets (`bertkit.train` keywords)."""
        return [f for f in dataclasses.fields(cls) if f.metadata and not f.metadata["derived"]]

    @classmethod
    def flags(cls) -> list[dataclasses.Field]:
        """The options that are also CLI flags."""
        return [f for f in cls.options() if f.metadata["cli"]]


def _check(f: dataclasses.Field, value) -> None:
    meta = f.metadata
    if not meta or value is None:
        return
    name = flag_of(f)
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise BertkitError(f"{name} must be one of {', '.join(map(str, meta['choices']))}; got {value!r}.")
    for bound, ok, words in ((meta.get("minimum"), lambda v, b: v >= b, "at least"),
                             (meta.get("above"), lambda v, b: v > b, "greater than"),
                             (meta.get("maximum"), lambda v, b: v <= b, "at most")):
        if bound is not None and not ok(value, bound):
            raise BertkitError(f"{name} must be {words} {bound}; got {value!r}.")


@dataclass(frozen=True)
class EncoderConfig(JsonConfig):
    """The encoder architecture. Defaults are BERT-base; the other fields describe BERT's descendants (the
    Hugging Face `model_type` and what differs from BERT), each off (0 / False) for BERT."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"  # exact erf GELU ("gelu"), or the tanh approximation ("gelu_new", ALBERT)
    dropout: float = 0.1  # hidden dropout
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2  # 0: no token-type embeddings (DistilBERT, MPNet, DeBERTa-v3, ModernBERT)
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    model_type: str = "bert"  # bert, distilbert, electra, roberta, xlm-roberta, mpnet, albert, deberta-v2, modernbert
    embedding_size: int = 0  # > 0 and != hidden_size: embeddings of this size, projected (ELECTRA, ALBERT)
    position_offset: int = 0  # first position id (RoBERTa, XLM-R, MPNet: padding_idx + 1 = 2)
    shared_layers: bool = False  # one layer's weights applied num_layers times (ALBERT)
    relative_attention_buckets: int = 0  # MPNet: a learned bias per relative-distance bucket, shared by all layers
    pooler: bool = True  # False: pooled_output is the first position's vector (no dense)
    position_buckets: int = 0  # DeBERTa-v2: relative-position buckets (log-spaced beyond half of them)
    max_relative_positions: int = -1  # DeBERTa-v2 (< 1: max_position_embeddings)
    global_attn_every_n_layers: int = 0  # ModernBERT: layers 0, n, 2n, ... attend globally, the others locally
    local_attention: int = 0  # ModernBERT: window of the local layers (a key is seen within half of it)
    global_rope_theta: float = 160000.0  # ModernBERT: rotary base of the global layers
    local_rope_theta: float = 10000.0  # ModernBERT: rotary base of the local layers

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise BertkitError(
                f"EncoderConfig: hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}."
            )

    @property
    def max_seq_length(self) -> int:
        """The longest row the encoder's positions allow."""
        if self.model_type in ("deberta-v2", "modernbert"):
            return self.max_position_embeddings  # relative positions: no table to run out of
        return self.max_position_embeddings - self.position_offset


@dataclass(frozen=True)
class PreprocessConfig(JsonConfig):
    """How raw text becomes ids. Saved in the bundle so inference uses exactly the training setup."""

    do_lower_case: bool = option(True, "lower-case and strip accents (from the pretrained model)", derived=True)
    max_seq_length: int = option(128, "tokens per row, special tokens included", minimum=3)
    truncation: str = option("head+tail", "which tokens of a long single text are kept: head, tail, or head+tail "
                             "(the first quarter of the budget from the start, the rest from the end)",
                             choices=TRUNCATIONS)
    head_fraction: float = option(0.25, "head+tail: share of the token budget kept from the start",
                                  minimum=0.0, maximum=1.0)


@dataclass(frozen=True)
class TaskConfig(JsonConfig):
    """The task type, its labels, its head and its options (`extra`)."""

    task: str = option("classify", "task type", derived=True)
    labels: tuple = option((), "label names (str), in id order", derived=True)
    label_type: str = option("str", "int or str: the type the labels had in the training data", derived=True)
    pooling: str = option("cls", "head input: cls = the encoder's pooled_output, mean = masked mean of "
                          "sequence_output", choices=POOLINGS, unset="what the pretrained model was trained with")
    head_dropout: float = option(0.1, "dropout before the task head", minimum=0.0, maximum=1.0)
    is_pair: bool = option(False, "sentence pairs (text_b)", derived=True)
    extra: dict = option(None, "task options (--task-option KEY=VALUE)", derived=True)

    def __post_init__(self):
        if self.extra is None:
            object.__setattr__(self, "extra", {})
        super().__post_init__()


# Unset training options that depend on the method. Few-shot reads its 20 rounds of pairs once in batches of
# 16, as setfit does (fine-tuning's 3 epochs of 32 would take 3x the steps, never measured). Both keep the peak
# learning rate 2e-5: few-shot at 5e-5 gained ~1 point on SST-2 at 8 / 16 per class and lost ~1 at 64
# (docs/results.md, "v7").
METHOD_DEFAULTS = {"batch_size": {"fine-tune": 32, "few-shot": 16}, "epochs": {"fine-tune": 3, "few-shot": 1}}


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Optimisation and sampling. Defaults follow the tutorial."""

    LEGACY_KEYS = frozenset({"log_every"})

    learning_rate: float = option(2e-5, "peak AdamW learning rate (linear warm-up, then linear decay)", above=0.0)
    batch_size: int | None = option(None, "examples per optimizer step (global, across replicas)", minimum=1,
                                    unset="32; few-shot: 16")
    epochs: int | None = option(None, "passes over the training data (few-shot: over the pairs)", minimum=1,
                                unset="3; few-shot: 1")
    warmup_fraction: float = option(0.1, "share of the steps spent warming up", minimum=0.0, maximum=1.0)
    weight_decay: float = option(0.01, "AdamW decoupled weight decay (not on LayerNorm and biases)", minimum=0.0)
    clip_norm: float = option(1.0, "clip the step's gradient to this global norm", above=0.0)
    seed: int = option(42, "fixes sampling, data order, dropout and head initialisation")
    train_samples: int | None = option(None, "sample N training examples (seeded)", minimum=1, unset="all")
    samples_per_class: int | None = option(None, "classify: sample N training examples of each label (seeded)",
                                           minimum=1, unset="all")
    test_samples: int | None = option(None, "sample N test examples (seeded)", minimum=1, unset="all")
    mixed_precision: str = option("auto", "compute precision (auto: bf16 on CPUs and GPUs that have it, else "
                                  "float32)", choices=PRECISIONS)
    accumulation_steps: int = option(1, "accumulate N micro-batches of --batch-size per optimizer step (the same "
                                     "result as one N-times larger batch, in less memory)", minimum=1)
    checkpoint_every: int = option(0, "also checkpoint every N optimizer steps (always at each epoch end)",
                                   minimum=0)
    keep_checkpoints: int = option(3, "recent checkpoints kept", minimum=1)
    patience: int | None = option(None, "early stopping: stop after N epochs without a better dev metric; keeps "
                                  "the best epoch", minimum=1, unset="no early stopping")
    keep_best: bool = option(False, "the bundle gets the best epoch's weights (choose it on a dev split)")
    strategy: str = option("auto", "tf.distribute strategy (auto: multi-worker if TF_CONFIG has a cluster, tpu if "
                           "--tpu, mirrored on several GPUs, else default)", choices=STRATEGIES)
    tpu: str | None = option(None, "TPU name or grpc:// address for --strategy tpu", unset="TPU_NAME")
    jit_compile: bool = option(False, "compile the train step with XLA (slower on the CPUs measured)", flag="--xla")
    eval_every_epoch: bool = option(True, "evaluate on the test split after every epoch", cli=False)
    method: str = option("fine-tune", "classify: fine-tune the encoder with the head, or few-shot (SetFit-style: "
                         "contrastive pairs tune the encoder, then a logistic-regression head on its embeddings)",
                         choices=("fine-tune", "few-shot"))
    pair_iterations: int = option(20, "few-shot: rounds of pairs; each round pairs every example with one of its "
                                  "label and one of another label", minimum=1)

    def __post_init__(self):
        for name, by_method in METHOD_DEFAULTS.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, by_method.get(self.method))  # a bad method: the checks say so
        super().__post_init__()

    @property
    def keeps_best(self) -> bool:
        return self.keep_best or self.patience is not None


@dataclass(frozen=True)
class InferenceConfig(JsonConfig):
    """How `predict`, `evaluate` and the report run a trained model."""

    batch_size: int = option(64, "rows per model call", minimum=1)
    mixed_precision: str = option("float32", "compute precision of the forward pass (float32: the export's "
                                  "numbers; mixed_bfloat16 is faster on CPUs with AVX512_BF16 or AMX and on recent "
                                  "GPUs)", choices=PRECISIONS)


def split_options(options: dict, *configs: type[JsonConfig]) -> list[dict]:
    """`options` (keyword -> value) split by the config each keyword belongs to.

    Raises:
        BertkitError: a keyword no config has, listing the ones they have.
    """
    out = [{} for _ in configs]
    for key, value in options.items():
        for i, config in enumerate(configs):
            if key in {f.name for f in config.options()}:
                out[i][key] = value
                break
        else:
            known = sorted({f.name for c in configs for f in c.options()})
            raise BertkitError(f"unknown option {key!r}; the options are: {', '.join(known)}.")
    return out
