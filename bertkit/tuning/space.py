"""What `bertkit tune` searches and how: the search space (`SearchSpace`) and the search's own settings
(`TuneConfig`), each option declared once with `option(...)` so the CLI flags are generated from them.

A range is given as "LOW,HIGH" (the CLI) or a `(low, high)` pair (Python); a set as "A,B,..." or a
sequence. LOW = HIGH fixes a setting; a one-element set does the same.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bertkit.core.config import POOLINGS, JsonConfig, flag_of, option
from bertkit.core.errors import BertkitError

# The `bertkit train` options the search sets in every trial (and so cannot also be given fixed).
SEARCHED = ("learning_rate", "epochs", "batch_size", "warmup_fraction", "pooling", "head_dropout")


def _items(value, flag: str) -> list[str]:
    """"a,b" or a sequence -> its non-empty items as strings."""
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [str(v).strip() for v in items if str(v).strip()]
    if not items:
        raise BertkitError(f"{flag}: give at least one value, e.g. {flag} 16,32.")
    return items


def _number(text: str, kind, flag: str):
    """`text` as a float, or as an int when `kind` is int ("2" and "2.0" are both 2)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or (kind is int and not value.is_integer()):
        raise BertkitError(f"{flag}: {text!r} is not {'a number' if kind is float else 'a whole number'}.")
    return int(value) if kind is int else value


def parse_range(value, flag: str, kind=float, low_bound=None, high_bound=None, above=None) -> tuple:
    """"LOW,HIGH" (or a pair) -> `(low, high)`, checked: LOW <= HIGH and both within the bounds."""
    items = _items(value, flag)
    if len(items) != 2:
        raise BertkitError(f"{flag}: expected LOW,HIGH (two numbers separated by a comma), got {value!r}.")
    low, high = (_number(v, kind, flag) for v in items)
    if low > high:
        raise BertkitError(f"{flag}: the low end {low} is above the high end {high}; give it as LOW,HIGH, "
                           f"e.g. {flag} {high},{low}.")
    for v in (low, high):
        if (low_bound is not None and v < low_bound) or (high_bound is not None and v > high_bound) \
                or (above is not None and v <= above):
            where = f"greater than {above}" if above is not None else \
                f"within [{low_bound if low_bound is not None else '-inf'}, {high_bound if high_bound is not None else 'inf'}]"
            raise BertkitError(f"{flag}: {v} is out of range; both ends must be {where}.")
    return low, high


@dataclass(frozen=True)
class SearchSpace(JsonConfig):
    """The settings each trial samples. Names are the `bertkit train` options they set, plus `_range` / `s`."""

    learning_rate_range: str | tuple = option("1e-5,1e-4", "peak learning rate LOW,HIGH, sampled log-uniformly")
    epochs_range: str | tuple = option("1,4", "epochs LOW,HIGH (whole numbers, uniformly)")
    batch_sizes: str | tuple = option("16,32", "batch sizes to choose from, comma-separated")
    warmup_fraction_range: str | tuple = option("0,0.2", "warm-up share of the steps LOW,HIGH, uniformly")
    poolings: str | tuple = option("cls,mean", "head inputs to choose from, comma-separated (cls, mean)")
    head_dropout_range: str | tuple = option("0,0.3", "dropout before the task head LOW,HIGH, uniformly")

    def __post_init__(self):
        f = {x.name: flag_of(x) for x in dataclasses.fields(self)}
        parsed = {
            "learning_rate_range": parse_range(self.learning_rate_range, f["learning_rate_range"], above=0.0),
            "epochs_range": parse_range(self.epochs_range, f["epochs_range"], int, low_bound=1),
            "batch_sizes": tuple(_whole(v, f["batch_sizes"]) for v in _items(self.batch_sizes, f["batch_sizes"])),
            "warmup_fraction_range": parse_range(self.warmup_fraction_range, f["warmup_fraction_range"],
                                                 low_bound=0.0, high_bound=1.0),
            "poolings": tuple(_items(self.poolings, f["poolings"])),
            "head_dropout_range": parse_range(self.head_dropout_range, f["head_dropout_range"],
                                              low_bound=0.0, high_bound=1.0),
        }
        bad = [p for p in parsed["poolings"] if p not in POOLINGS]
        if bad:
            raise BertkitError(f"{f['poolings']}: {bad[0]!r} is not a pooling; choose from {', '.join(POOLINGS)}.")
        for name, value in parsed.items():
            object.__setattr__(self, name, value)  # frozen: normalised once, here

    def first_trial(self, given, flag: str = "--first-trial") -> dict:
        """`given` ("KEY=VALUE,..." or a dict of searched `bertkit train` options) -> those settings, parsed and
        checked against this space: the first trial runs them, and samples the settings not given."""
        if isinstance(given, str):
            pairs = [_key_value(item, flag) for item in _items(given, flag)]
        else:
            pairs = [(str(k), v) for k, v in dict(given).items()]
        out = {}
        for key, value in pairs:
            name = key.strip().replace("-", "_")
            if name not in SEARCHED:
                raise BertkitError(f"{flag}: {key!r} is not a searched setting; give KEY=VALUE for any of "
                                   f"{', '.join(SEARCHED)}, e.g. {flag} learning_rate=5e-5,epochs=5.")
            out[name] = self._within(name, value, flag)
        return out

    def _within(self, name: str, value, flag: str):
        """One first-trial setting as the sampler would give it, or a message naming the range it is outside."""
        space = {"learning_rate": self.learning_rate_range, "epochs": self.epochs_range,
                 "warmup_fraction": self.warmup_fraction_range, "head_dropout": self.head_dropout_range}
        choices = {"batch_size": self.batch_sizes, "pooling": self.poolings}
        flag_of_range = range_flag(name)
        if name in choices:
            v = _whole(str(value), f"{flag} {name}") if name == "batch_size" else str(value).strip()
            if v not in choices[name]:
                raise BertkitError(f"{flag}: {name}={v} is not among {flag_of_range} "
                                   f"{','.join(map(str, choices[name]))}; add it there, or give another value.")
            return v
        v = _number(str(value), int if name == "epochs" else float, f"{flag} {name}")
        low, high = space[name]
        if not low <= v <= high:
            raise BertkitError(f"{flag}: {name}={v} is outside {flag_of_range} {low},{high}; widen the range, or give "
                               "a value inside it.")
        return v

    def suggest(self, trial) -> dict:
        """Samples one trial's settings (an `optuna.Trial`); the keys are `bertkit.train` options."""
        lr, epochs, warmup, dropout = (self.learning_rate_range, self.epochs_range, self.warmup_fraction_range,
                                       self.head_dropout_range)
        return {
            "learning_rate": trial.suggest_float("learning_rate", *lr, log=True),
            "epochs": trial.suggest_int("epochs", *epochs),
            "batch_size": trial.suggest_categorical("batch_size", list(self.batch_sizes)),
            "warmup_fraction": trial.suggest_float("warmup_fraction", *warmup),
            "pooling": trial.suggest_categorical("pooling", list(self.poolings)),
            "head_dropout": trial.suggest_float("head_dropout", *dropout),
        }


def range_flag(option: str) -> str:
    """The search-space flag of a searched `bertkit train` option (learning_rate -> --learning-rate-range)."""
    name = next(f.name for f in SearchSpace.options() if f.name in (option + "_range", option + "s"))
    return "--" + name.replace("_", "-")


def _key_value(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise BertkitError(f"{flag}: expected KEY=VALUE items separated by commas, got {item!r}; e.g. "
                           f"{flag} learning_rate=5e-5,epochs=5,batch_size=32,pooling=cls.")
    return key, value


def _whole(text: str, flag: str) -> int:
    value = _number(text, int, flag)
    if value < 1:
        raise BertkitError(f"{flag}: {value} is not a batch size; give whole numbers of at least 1.")
    return value


@dataclass(frozen=True)
class TuneConfig(JsonConfig):
    """The search: how many trials, what they are scored on, where the study is stored, when to prune."""

    trials: int = option(20, "trials to finish (completed or pruned; failed ones are retried)", minimum=1)
    metric: str | None = option(None, "the dev metric to maximise (one of the task's metrics)",
                                unset="the task's main metric")
    search_fraction: float = option(0.2, "share of the training data held out (seeded) to score the trials; "
                                    "the real dev/test split is used once, for the best settings", above=0.0,
                                    maximum=0.5)
    storage: str | None = option(None, "Optuna RDB storage URL of the study", unset="sqlite:///OUTPUT/tune.db")
    first_trial: str | dict | None = option(
        None, "settings the first trial runs, KEY=VALUE,... of the searched options (e.g. "
        "learning_rate=5e-5,epochs=5,batch_size=32,pooling=cls; those not given are sampled): settings you "
        "already trust, scored on the same held-out split as the search's own", unset="every trial is sampled")
    # 2, not 1: on MRPC 9 of 12 trials sat at the majority class's F1 after epoch 1 (0.785-0.79), and 7 were
    # pruned there on ties with the median (benchmarks/results/tune-mrpc.json); the first epoch ranks little.
    prune_from_epoch: int = option(2, "MedianPruner: the first epoch after which a trial may be stopped",
                                   minimum=1)
    prune_startup_trials: int = option(3, "MedianPruner: trials finished before any trial is pruned", minimum=0)
