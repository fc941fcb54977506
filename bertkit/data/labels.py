"""The label list of a classification task: built from the training examples, saved in the bundle.

Ids follow the sorted label order (ints numerically, strings alphabetically), so the same training
data always gives the same ids. The bundle stores names as strings plus `label_type` ("int" or
"str"), from which the original labels are recovered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bertkit.core.errors import BertkitError

LABEL_TYPES = ("int", "str")
_INT = re.compile(r"^-?\d+$")


def _canonical(label, guid):
    """bool and integral float -> int; int and str unchanged; anything else is an error."""
    if isinstance(label, bool):
        return int(label)
    if isinstance(label, float):
        if label.is_integer():
            return int(label)
        raise BertkitError(
            f"{guid}: label {label!r} is not a class; classification needs int or str labels "
            f"(a real-valued target needs a regression task)."
        )
    if isinstance(label, (int, str)):
        return label
    raise BertkitError(f"{guid}: label {label!r} ({type(label).__name__}) is not an int or str class label.")


def _no_label(guid, why: str) -> BertkitError:
    return BertkitError(f"{guid}: no label; {why} need labels (check label_column, default 'label').")


@dataclass(frozen=True)
class LabelVocab:
    """Labels in id order, in their original type.

    Attributes:
        labels: tuple of int or of str; `labels[i]` has id `i`.
        label_type: "int" or "str".
    """

    labels: tuple
    label_type: str

    def __post_init__(self):
        if self.label_type not in LABEL_TYPES:
            raise BertkitError(f"label_type must be one of {LABEL_TYPES}, got {self.label_type!r}.")
        if len(set(self.labels)) != len(self.labels):
            raise BertkitError(f"duplicate labels in {list(self.labels)}.")
        kind = int if self.label_type == "int" else str
        if not all(isinstance(x, kind) and not isinstance(x, bool) for x in self.labels):
            raise BertkitError(f"labels {list(self.labels)} are not all {self.label_type}.")
        object.__setattr__(self, "_index", {x: i for i, x in enumerate(self.labels)})

    @classmethod
    def from_examples(cls, examples) -> LabelVocab:
        """Builds the vocabulary from training examples (list labels, for multi-label, are flattened).

        Raises:
            BertkitError: an example has no label, labels mix ints and strings, or there is only one label.
        """
        first = {}  # type -> (guid, label): the first example of each kind, for the mix error
        seen = set()
        for ex in examples:
            values = ex.label if isinstance(ex.label, (list, tuple)) else [ex.label]
            if ex.label is None or not values:
                raise _no_label(ex.guid, "training examples")
            for value in values:
                label = _canonical(value, ex.guid)
                first.setdefault(type(label), (ex.guid, value))
                seen.add(label)
        if len(first) > 1:
            (g1, l1), (g2, l2) = first[int], first[str]
            raise BertkitError(
                f"labels mix numbers and strings: {g1} has {l1!r} but {g2} has {l2!r}. "
                f"Use one kind of label throughout the dataset."
            )
        if len(seen) < 2:
            raise BertkitError(
                f"the training examples have a single label {sorted(seen)}; a classifier needs at least two."
            )
        return cls(tuple(sorted(seen)), "int" if int in first else "str")

    @property
    def names(self) -> tuple[str, ...]:
        """Labels as strings, in id order (what `TaskConfig.labels` stores)."""
        return tuple(str(x) for x in self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def id_of(self, label, guid=None) -> int | None:
        """The id of `label`, or None if unknown. "1" and 1 are the same label (CSV vs JSONL)."""
        label = _canonical(label, guid)
        if self.label_type == "int" and isinstance(label, str) and _INT.match(label.strip()):
            label = int(label)
        elif self.label_type == "str" and isinstance(label, int):
            label = str(label)
        return self._index.get(label)

    def _check(self, unknown: list) -> None:
        if unknown:
            guid, label = unknown[0]
            distinct = sorted({repr(x) for _, x in unknown})
            raise BertkitError(
                f"{guid}: label {label!r} is not one of the training labels {list(self.labels)} "
                f"({len(unknown)} label(s) unknown: {', '.join(distinct[:10])}). Evaluate on data labelled "
                f"like the training set, or retrain with these labels."
            )

    def encode(self, examples) -> np.ndarray:
        """Single-label ids of labelled examples.

        Returns:
            int32 `[N]`.

        Raises:
            BertkitError: naming the guid (file:line) of the first unlabelled or unknown label.
        """
        ids, unknown = np.zeros(len(examples), np.int32), []
        for i, ex in enumerate(examples):
            if ex.label is None:
                raise _no_label(ex.guid, "evaluation and training examples")
            if isinstance(ex.label, (list, tuple)):
                raise BertkitError(f"{ex.guid}: a list label {ex.label!r} in a single-label task.")
            k = self.id_of(ex.label, ex.guid)
            if k is None:
                unknown.append((ex.guid, ex.label))
            else:
                ids[i] = k
        self._check(unknown)
        return ids

    def encode_multi_hot(self, examples) -> np.ndarray:
        """Multi-label targets: float32 `[N, K]`, 1 where the example's label list holds label k."""
        out, unknown = np.zeros((len(examples), len(self)), np.float32), []
        for i, ex in enumerate(examples):
            if ex.label is None:
                raise _no_label(ex.guid, "evaluation and training examples")
            for value in ex.label if isinstance(ex.label, (list, tuple)) else [ex.label]:
                k = self.id_of(value, ex.guid)
                if k is None:
                    unknown.append((ex.guid, value))
                else:
                    out[i, k] = 1.0
        self._check(unknown)
        return out

    def decode(self, ids) -> list:
        """Labels (original type) for ids."""
        return [self.labels[int(i)] for i in np.asarray(ids).reshape(-1)]

    def to_json(self) -> dict:
        return {"labels": list(self.names), "label_type": self.label_type}

    @classmethod
    def from_json(cls, data: dict, source: str = "<labels>") -> LabelVocab:
        """Inverse of `to_json`; also accepts `labels` + `label_type` read from a TaskConfig."""
        try:
            names, label_type = list(data["labels"]), data["label_type"]
        except (KeyError, TypeError):
            raise BertkitError(f"{source}: expected {{'labels': [...], 'label_type': 'int'|'str'}}.") from None
        if label_type == "int":
            bad = [n for n in names if not _INT.match(str(n))]
            if bad:
                raise BertkitError(f"{source}: label_type is 'int' but labels {bad} are not integers.")
            return cls(tuple(int(n) for n in names), "int")
        return cls(tuple(str(n) for n in names), label_type)
