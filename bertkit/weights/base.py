"""What every weight-format loader returns, and the loader record the registry holds."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bertkit.core.config import EncoderConfig
from bertkit.core.io import read_json  # noqa: F401  the formats' modules read their JSON files through it
from bertkit.tokenization.loading import load_tokenizer


@dataclass
class Pretrained:
    """A loaded pretrained encoder and what preprocessing must match it."""

    encoder: object  # the family's encoder (bertkit.modeling.families)
    encoder_config: EncoderConfig
    source_format: str  # a key of `bertkit.weights.FORMATS`
    default_pooling: str  # "mean" for sentence-transformers mean-pooling models, else "cls"
    folder: Path  # where the model came from: its tokenizer files are there too

    @functools.cached_property
    def tokenizer(self):
        """The model's in-graph tokenizer, from the same folder (`bertkit.tokenization.loading`)."""
        return load_tokenizer(self.folder)

    @property
    def do_lower_case(self) -> bool:
        return self.tokenizer.do_lower_case

    @property
    def vocab_file(self) -> str | None:
        """The WordPiece vocabulary (`vocab.txt`), which the BERT encoder formats carry; None without one."""
        vocab = getattr(self.tokenizer, "vocab_file", None)
        if vocab is None and (self.folder / "vocab.txt").is_file():
            vocab = self.folder / "vocab.txt"
        return None if vocab is None else str(vocab)


@dataclass(frozen=True)
class Loader:
    """One weight format: how to recognise its folder and how to load it."""

    expects: str  # what the folder must hold, for error messages
    detect: Callable[[Path], bool]
    load: Callable[[Path], Pretrained]


def sentence_transformers_pooling(folder: Path) -> str:
    """Returns "mean" when `folder` is a sentence-transformers model that mean-pools, else "cls"."""
    pooling_config = folder / "1_Pooling" / "config.json"
    if pooling_config.is_file() and read_json(pooling_config).get("pooling_mode_mean_tokens") is True:
        return "mean"
    return "cls"
