"""Data: readers (jsonl, csv, tsv, aclImdb), labels, dataset names and sampling."""

from bertkit.data.datasets import (
    DATASET_NAMES,
    cache_dir,
    download_imdb,
    load_splits,
    resolve_data,
    sample_examples,
)
from bertkit.data.examples import Example
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

__all__ = [
    "DATASET_NAMES",
    "READERS",
    "Example",
    "LabelVocab",
    "cache_dir",
    "detect_format",
    "download_imdb",
    "load_splits",
    "read_aclimdb",
    "read_csv",
    "read_examples",
    "read_imdb_folder",
    "read_jsonl",
    "read_tsv",
    "resolve_data",
    "sample_examples",
]
