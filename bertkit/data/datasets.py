"""Where the data comes from: a dataset name, a folder or a file -> train and test examples.

* A NAME ("imdb", "sst2", "rte", ...) is a sub-folder of `$BERTKIT_DATA`, laid out like shared/data.
  "imdb" without a local copy is downloaded once from Stanford (the official aclImdb_v1.tar.gz, full
  25k/25k splits) into `$BERTKIT_CACHE` (default ~/.cache/bertkit).
* A FOLDER holds `train.*` and `test.*` and/or `dev.*` files, or is an aclImdb root (`train/`, `test/`).
* A FILE (or aclImdb split folder) is the training data; its test split is the sibling whose name has
  "train" replaced: train.jsonl -> test.jsonl, then dev.jsonl; aclImdb/train -> aclImdb/test.

An existing path wins over a dataset name of the same spelling.
"""

from __future__ import annotations

import hashlib
import operator
import os
import re
import shutil
import sys
import tarfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from bertkit.data.readers import is_imdb_root, is_imdb_split, read_examples
from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_directory

DATASET_NAMES = ("imdb", "imdb_full", "sst2", "rt_polarity", "rte", "mrpc", "conll2003", "squad")
SPLITS = ("train", "dev", "test")
# Tried in order; the first pattern with a match wins. Covers shared/data, GLUE, CoNLL and SQuAD names.
SPLIT_PATTERNS = {
    "train": ("train.*", "*.train", "train-*.json"),
    "dev": ("dev.*", "validation.*", "valid.*", "val.*", "*.testa", "dev-*.json"),
    "test": ("test.*", "*.testb"),
}
# Sibling names of a training file, by split: "train" in the file name is replaced by each.
SIBLING_WORDS = {"dev": ("dev", "validation", "valid", "val"), "test": ("test",)}
_SKIP = re.compile(r"^\.|(~|\.tmp|\.partial|\.bak)$")

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"  # 84,125,825 bytes
DOWNLOAD_TIMEOUT = 15.0  # seconds to connect, and at most between two reads
_IMDB_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg)/(\d+_\d+\.txt)$")


def cache_dir() -> Path:
    """`$BERTKIT_CACHE`, or ~/.cache/bertkit."""
    return Path(os.environ.get("BERTKIT_CACHE") or Path.home() / ".cache" / "bertkit").expanduser()


def _find(folder: Path, split: str) -> Path | None:
    for pattern in SPLIT_PATTERNS[split]:
        found = sorted(p for p in folder.glob(pattern) if p.is_file() and not _SKIP.search(p.name))
        if len(found) > 1:
            raise BertkitError(
                f"{folder}: several {split} files {[p.name for p in found]}; pass the one you mean as a file path."
            )
        if found:
            return found[0]
    return None


def _sibling(train: Path, split: str) -> Path | None:
    if "train" not in train.name:
        return None
    for word in SIBLING_WORDS[split]:
        candidate = train.with_name(train.name.replace("train", word, 1))
        if candidate.exists():
            return candidate
    return None


def _split_paths(path: Path) -> dict[str, Path | None]:
    """Train / dev / test paths of an existing file or folder."""
    if path.is_dir() and is_imdb_root(path):
        test = path / "test" if is_imdb_split(path / "test") else None
        return {"train": path / "train", "dev": None, "test": test}
    if path.is_dir() and not is_imdb_split(path):
        return {split: _find(path, split) for split in SPLITS}
    return {"train": path, "dev": _sibling(path, "dev"), "test": _sibling(path, "test")}


def _named_dataset(name: str) -> Path:
    """The folder of a dataset name: `$BERTKIT_DATA/<name>`, or the downloaded aclImdb for "imdb"."""
    root = os.environ.get("BERTKIT_DATA")
    if root and (Path(root).expanduser() / name).is_dir():
        return Path(root).expanduser() / name
    if name == "imdb":
        return download_imdb()
    if not root:
        where = "BERTKIT_DATA is not set"
    else:
        have = sorted(p.name for p in Path(root).expanduser().glob("*") if p.is_dir())
        where = f"BERTKIT_DATA={root} has no {name}/ sub-folder (it has {have})"
    raise BertkitError(
        f"unknown data {name!r}: it is not a file or folder here, and {where}. Pass a file or folder, or set "
        f"BERTKIT_DATA to a folder with one sub-folder per dataset (like shared/data: {', '.join(DATASET_NAMES)})."
    )


def _locate(spec) -> tuple[Path, dict[str, Path | None]]:
    path = Path(spec).expanduser()
    if not path.exists() and re.fullmatch(r"[A-Za-z0-9_-]+", str(spec)):
        path = _named_dataset(str(spec))
    if not path.exists():
        raise BertkitError(f"{spec}: no such file or folder.")
    return path, _split_paths(path)


def _pick(located, split: str) -> Path | None:
    """One split of `_locate`'s answer: "test" falls back to "dev"; a missing train split is an error."""
    if split not in SPLITS:
        raise BertkitError(f"split must be one of {SPLITS}, got {split!r}.")
    path, paths = located
    if split == "train" and paths["train"] is None:
        names = sorted(p.name for p in path.iterdir())[:20]
        broken = sorted(p.name for p in path.iterdir() if p.is_symlink() and not p.exists())
        if broken:
            raise BertkitError(f"{path}: {', '.join(broken)} is a symbolic link to a missing file "
                               f"({os.readlink(path / broken[0])}); fix or replace the link.")
        raise BertkitError(
            f"{path}: no training file (train.jsonl, train.csv, train.tsv, ...) and not an aclImdb folder; "
            f"it holds {names}. Pass the training file itself."
        )
    if split == "test" and paths["test"] is None:
        return paths["dev"]
    return paths[split]


def resolve_data(spec, split: str = "train") -> Path | None:
    """The file (or aclImdb split folder) holding one split of `spec`.

    Args:
        spec: a dataset name under `$BERTKIT_DATA` (or "imdb", downloaded if absent), a folder or a file.
        split: "train", "dev" or "test"; "test" falls back to "dev" when there is no test file.

    Returns:
        The path; None when the dev/test split does not exist.

    Raises:
        BertkitError: unknown name, missing path, no training file, or several files for one split.
    """
    return _pick(_locate(spec), split)


def locate_splits(spec) -> dict[str, Path | None]:
    """`{"train", "dev", "test"}` -> path or None for `spec` (no fallbacks, no error for a missing train)."""
    return _locate(spec)[1]


def sample_examples(examples: list, n: int | None, seed: int = 42) -> list:
    """A seeded random subset of `n` examples, kept in their original order.

    The same seed and input give the same subset (numpy `Generator`, stable within a numpy version).
    `n` None or at least `len(examples)` returns all of them.
    """
    if n is None:
        return list(examples)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise BertkitError(f"sample size must be a positive integer or None, got {n!r}.")
    n = operator.index(n)
    if n >= len(examples):
        return list(examples)
    idx = np.sort(np.random.default_rng(seed).choice(len(examples), size=n, replace=False))
    return [examples[i] for i in idx]


def sample_per_class(examples: list, n: int, seed: int = 42) -> list:
    """A seeded sample of `n` examples of every label (all of a label's if it has fewer), in file order.

    Raises:
        BertkitError: an example without a single label (a list, or none), naming it.
    """
    by_label: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        if e.label is None or isinstance(e.label, (list, tuple)):
            raise BertkitError(f"{e.guid}: samples per class need one label per example; this one has "
                               f"{e.label!r}.")
        by_label.setdefault(str(e.label), []).append(i)
    rng = np.random.default_rng(seed)
    kept = [j for label in sorted(by_label) for j in
            (by_label[label] if len(by_label[label]) <= n else rng.choice(by_label[label], size=n, replace=False))]
    return [examples[i] for i in sorted(kept)]


def _describe(role: str, path: Path, full: list, kept: list, n, seed) -> str:
    text = f"{role} {path} ({len(full):,} examples"
    if n is not None and len(kept) < len(full):
        text += f"; sampled {len(kept):,} with seed {seed}"
    elif n is not None:
        text += f"; {n:,} requested, all used"
    return text + ")"


def load_splits(
    spec,
    *,
    train_samples: int | None = None,
    test_samples: int | None = None,
    seed: int = 42,
    test_split: str = "test",
    text_column: str = "text",
    text_b_column: str | None = None,
    label_column: str = "label",
):
    """Reads (and optionally samples) the train and test examples of `spec`.

    Args:
        spec: dataset name, folder or file (see `resolve_data`).
        train_samples: keep a seeded random subset of this many training examples; None keeps all.
        test_samples: the same for the test split.
        seed: seed of both subsets.
        test_split: "test" (falls back to dev) or "dev".
        text_column, text_b_column, label_column: passed to `read_examples`.

    Returns:
        (train_examples, test_examples or None, description): the description names the files used,
        their sizes and the sampling, for logs and the model bundle.
    """
    columns = dict(text_column=text_column, text_b_column=text_b_column, label_column=label_column)
    located = _locate(spec)
    train_path, test_path = _pick(located, "train"), _pick(located, test_split)
    train_all = read_examples(train_path, **columns)
    train = sample_examples(train_all, train_samples, seed)
    parts = [f"{spec}: " + _describe("train", train_path, train_all, train, train_samples, seed)]
    test = None
    if test_path is not None:
        test_all = read_examples(test_path, **columns)
        test = sample_examples(test_all, test_samples, seed)
        parts.append(_describe(test_split, test_path, test_all, test, test_samples, seed))
    else:
        parts.append(f"no {test_split} split found")
    return train, test, "; ".join(parts)


def download_imdb(cache: Path | None = None, *, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """The aclImdb root folder in the cache, downloaded and extracted on first use.

    Only `{train,test}/{pos,neg}/<id>_<rating>.txt` are extracted (not unsup/ or the .feat files), each
    to a path built from its parsed name, so no archive member can write outside the cache. The folder
    appears in one rename when complete; the archive is deleted afterwards.

    Raises:
        BertkitError: offline or download failed (set BERTKIT_DATA instead), or a corrupt archive.
    """
    cache = Path(cache) if cache is not None else cache_dir()
    root = cache / "aclImdb"
    if is_imdb_split(root / "train") and is_imdb_split(root / "test"):
        return root
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / "aclImdb_v1.tar.gz"
    if not archive.is_file():
        _download(IMDB_URL, archive, IMDB_SHA256, timeout)
    _extract_imdb(archive, root)
    archive.unlink()
    return root


def _download(url: str, dest: Path, sha256: str | None, timeout: float) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    print(f"bertkit: downloading {url} to {dest} (once) ...", file=sys.stderr)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    digest.update(chunk)
        except OSError as e:  # URLError, socket timeouts, connection resets
            reason = getattr(e, "reason", None) or e
            raise BertkitError(
                f"could not download the IMDB dataset from {url} ({reason}). Offline? Set BERTKIT_DATA to a "
                f"folder with an imdb/ sub-folder (train.jsonl, test.jsonl), or pass a local aclImdb folder "
                f"or train file instead of 'imdb'."
            ) from None
        if sha256 and digest.hexdigest() != sha256:
            raise BertkitError(
                f"{url}: the download has sha256 {digest.hexdigest()}, expected {sha256}; it is truncated "
                f"or not the official archive. Run again to retry."
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _extract_imdb(archive: Path, root: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar, atomic_directory(root) as tmp:
            for member in tar:
                m = _IMDB_MEMBER.match(member.name)
                if not (m and member.isfile()):
                    continue  # unsup/, .feat, README, links: not needed
                out = tmp.joinpath(*m.groups())
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            if not (is_imdb_split(tmp / "train") and is_imdb_split(tmp / "test")):
                raise tarfile.TarError("no aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt members")
    except (tarfile.TarError, EOFError, zlib.error) as e:
        archive.unlink(missing_ok=True)
        raise BertkitError(f"{archive}: cannot extract the IMDB archive ({e}); it was deleted, run again.") from None
