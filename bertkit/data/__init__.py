"""Data: readers (jsonl, csv, tsv, aclImdb), labels, dataset names and sampling."""

from bertkit.data.datasets import (
    DATASET_NAMES,
    cache_dir,
    download_imdb,
    load_splits,
    locate_splits,
    resolve_data,
    sample_examples,
    sample_per_class,
)
from bertkit.data.conll import TokenExample, read_conll
from bertkit.data.examples import Example, ExampleSplits
from bertkit.data.labels import LabelVocab
from bertkit.data.readers import (
    READERS,
    detect_format,
    read_aclimdb,
    read_csv,
    read_examples,
    read_imdb_folder,
    read_jsonl,
    read_tsv,
)
from bertkit.data.squad import QAExample, read_squad

__all__ = [
    "DATASET_NAMES",
    "READERS",
    "Example",
    "ExampleSplits",
    "QAExample",
    "TokenExample",
    "LabelVocab",
    "cache_dir",
    "detect_format",
    "download_imdb",
    "load_splits",
    "locate_splits",
    "read_aclimdb",
    "read_conll",
    "read_csv",
    "read_examples",
    "read_imdb_folder",
    "read_jsonl",
    "read_squad",
    "read_tsv",
    "resolve_data",
    "sample_examples",
    "sample_per_class",
]
