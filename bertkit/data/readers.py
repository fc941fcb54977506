"""One reader per file format, registered in `READERS`; `read_examples` picks one by extension.

Formats:
* `jsonl`: one JSON object per line, `{"text", "label"}` or `{"text_a", "text_b", "label"}`.
* `csv`, `tsv`: a header row naming the columns. TSV is read with quoting off, like the GLUE files.
* `aclimdb`: one split folder of the Large Movie Review Dataset, `<split>/{pos,neg}/<id>_<rating>.txt`,
  labelled 1 for pos and 0 for neg (as the JSONL copies in shared/data).
* `conll`: CoNLL column files (`.conll`, `eng.train|testa|testb`) -> `TokenExample`s (`bertkit.data.conll`).
* `squad`: SQuAD v1.1 `.json` -> `QAExample`s (`bertkit.data.squad`).

Every reader returns `list[Example]` whose guid says where the row came from (`<path>:<line>`, or
`<split>/<pos|neg>/<id>_<rating>` for aclImdb), and raises `BertkitError` naming the file and line of
any malformed row. A missing label column is not an error: the examples are unlabelled (predict input).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from bertkit.data.conll import read_conll
from bertkit.data.examples import Example
from bertkit.data.squad import read_squad
from bertkit.core.errors import BertkitError

# Used only when the caller keeps the default column name: the first one present wins.
TEXT_ALIASES = ("text", "text_a", "sentence", "sentence1")
TEXT_B_ALIASES = ("text_b", "sentence2")

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
            # CoNLL column files (eng.train / eng.testa / eng.testb) and SQuAD JSON
            ".conll": "conll", ".train": "conll", ".testa": "conll", ".testb": "conll", ".json": "squad"}
IMDB_LABELS = {"neg": 0, "pos": 1}
_IMDB_FILE = re.compile(r"^(\d+)_(\d+)\.txt$")
_INT = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class _Columns:
    text: str
    text_b: str | None
    label: str | None


def _read_text(path: Path) -> str:
    """Reads a whole file as UTF-8 (a leading BOM is dropped); errors name the line and byte offset."""
    if not path.is_file():
        raise BertkitError(f"{path}: no such file.")
    data = path.read_bytes()
    skipped = 0
    if data.startswith(codecs.BOM_UTF8):
        data, skipped = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BertkitError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at byte offset {e.start + skipped}). "
            f"Re-encode the file as UTF-8, e.g. `iconv -f cp1252 -t utf-8 {path} > {path.stem}.utf8{path.suffix}`."
        ) from None
    if not text.strip():
        raise BertkitError(f"{path}: the file is empty; expected at least one example.")
    return text


def _pick(keys, wanted: str, default: str, aliases: tuple[str, ...]) -> str | None:
    if wanted in keys:
        return wanted
    if wanted == default:
        return next((a for a in aliases if a in keys), None)
    return None


def _resolve_columns(path, line, first_keys, all_keys, text_column, text_b_column, label_column) -> _Columns:
    """Chooses the text / text_b / label columns from the keys of a file (see the alias tables)."""
    have = sorted(all_keys)
    text = _pick(first_keys, text_column, "text", TEXT_ALIASES)
    if text is None:
        tried = f"'{text_column}'" + (f" (or {', '.join(TEXT_ALIASES[1:])})" if text_column == "text" else "")
        raise BertkitError(
            f"{path}:{line}: no text column {tried}; the columns are {sorted(first_keys)}. "
            f"Pass text_column=<one of them>."
        )
    if text_b_column is None:
        text_b = next((a for a in TEXT_B_ALIASES if a in all_keys and a != text), None)
    elif text_b_column in all_keys:
        text_b = text_b_column
    else:
        raise BertkitError(f"{path}: no text_b column '{text_b_column}'; the columns are {have}.")
    label = label_column if label_column in all_keys else None  # absent: unlabelled (predict input)
    return _Columns(text, text_b, label)


def _get_text(row: dict, column: str, path, line, role: str) -> str:
    if column not in row:
        if role == "text_b":
            raise BertkitError(
                f"{path}:{line}: no '{column}' here, but other rows of this pair file have one; every row "
                f"needs both texts. This row has {sorted(row)}."
            )
        raise BertkitError(f"{path}:{line}: no '{column}' key; this row has {sorted(row)}.")
    value = row[column]
    if not isinstance(value, str):
        raise BertkitError(f"{path}:{line}: '{column}' must be a string, got {type(value).__name__} {value!r}.")
    if not value.strip():
        raise BertkitError(f"{path}:{line}: empty text in '{column}'. Fill it in or remove the row.")
    return value


def _to_examples(path, rows: list[tuple[int, dict]], cols: _Columns) -> list[Example]:
    examples = []
    for line, row in rows:
        text_a = _get_text(row, cols.text, path, line, "text")
        text_b = _get_text(row, cols.text_b, path, line, "text_b") if cols.text_b else None
        label = row.get(cols.label) if cols.label else None
        examples.append(Example(text_a, text_b, label, f"{path}:{line}"))
    return examples


def read_jsonl(path, *, text_column="text", text_b_column=None, label_column="label") -> list[Example]:
    """Reads a JSON Lines file: one object per line; blank lines are skipped.

    Args:
        path: the `.jsonl` file.
        text_column: key of the text; the default "text" also accepts text_a, sentence, sentence1.
        text_b_column: key of the second text of a pair; None detects text_b / sentence2.
        label_column: key of the label; rows without it get label None.

    Returns:
        The examples in file order, guid `<path>:<line>`.
    """
    path = Path(path)
    rows: list[tuple[int, dict]] = []
    all_keys: set[str] = set()
    # Split on "\n" only: str.splitlines() would also split on U+2028 inside JSON strings.
    for line, raw in enumerate(_read_text(path).split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise BertkitError(
                f"{path}:{line}: not valid JSON ({e.msg} at column {e.colno}). Each line must be one JSON "
                f'object, e.g. {{"text": "...", "label": 1}}.'
            ) from None
        if not isinstance(obj, dict):
            raise BertkitError(f"{path}:{line}: expected a JSON object, got {type(obj).__name__}.")
        rows.append((line, obj))
        all_keys.update(obj)
    cols = _resolve_columns(path, rows[0][0], rows[0][1], all_keys, text_column, text_b_column, label_column)
    return _to_examples(path, rows, cols)


def _read_delimited(path, fmt, text_column, text_b_column, label_column) -> list[Example]:
    path = Path(path)
    text = _read_text(path)
    if fmt == "tsv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
    header, header_line, rows, end = None, 0, [], 0
    try:
        for cells in reader:
            line, end = end + 1, reader.line_num  # a quoted CSV field may span several lines
            if not cells:
                continue
            if header is None:
                header, header_line = [h.strip() for h in cells], line
                continue
            if len(cells) != len(header):
                hint = (
                    "TSV is read with quoting off, so a tab inside a text splits it."
                    if fmt == "tsv"
                    else 'Quote fields that contain commas, e.g. "a, b".'
                )
                raise BertkitError(
                    f"{path}:{line}: {len(cells)} fields, but the header (line {header_line}) has "
                    f"{len(header)}. {hint}"
                )
            rows.append((line, dict(zip(header, cells))))
    except csv.Error as e:
        raise BertkitError(f"{path}:{reader.line_num}: cannot parse {fmt.upper()} ({e}).") from None
    if not rows:
        raise BertkitError(f"{path}: a header (line {header_line}) but no rows.")
    cols = _resolve_columns(path, header_line, header, set(header), text_column, text_b_column, label_column)
    if cols.label:
        # Cells are strings; a column of integers ("0", "1") becomes int, as in the JSONL files.
        cells = [row[cols.label].strip() for _, row in rows]
        as_int = all(_INT.match(c) for c in cells if c)
        for (_, row), cell in zip(rows, cells):
            row[cols.label] = None if not cell else int(cell) if as_int else cell
    return _to_examples(path, rows, cols)


def read_csv(path, *, text_column="text", text_b_column=None, label_column="label") -> list[Example]:
    """Reads a comma-separated file with a header row (arguments as `read_jsonl`).

    An all-integer label column becomes int labels; an empty label cell becomes None.
    """
    return _read_delimited(path, "csv", text_column, text_b_column, label_column)


def read_tsv(path, *, text_column="text", text_b_column=None, label_column="label") -> list[Example]:
    """Reads a tab-separated file with a header row and no quoting, like GLUE (arguments as `read_jsonl`)."""
    return _read_delimited(path, "tsv", text_column, text_b_column, label_column)


def is_imdb_split(folder: Path) -> bool:
    """True for an aclImdb split folder: one with `pos/` and `neg/` sub-folders."""
    return all((Path(folder) / name).is_dir() for name in IMDB_LABELS)


def is_imdb_root(folder: Path) -> bool:
    """True for an aclImdb root: one with a `train/` or `test/` split folder."""
    return any(is_imdb_split(Path(folder) / split) for split in ("train", "test"))


def _imdb_order(file: Path):
    m = _IMDB_FILE.match(file.name)
    return (0, int(m.group(1)), "") if m else (1, 0, file.name)


def read_aclimdb(path, **_columns) -> list[Example]:
    """Reads one aclImdb split folder: `neg/*.txt` (label 0) then `pos/*.txt` (label 1), by review id.

    Column arguments are accepted for a uniform reader signature and ignored. Texts are kept
    exactly as in the files (including `<br />`).

    Returns:
        The examples, guid `<split>/<pos|neg>/<id>_<rating>`.
    """
    folder = Path(path)
    if not is_imdb_split(folder):
        raise BertkitError(f"{folder}: not an aclImdb split folder (it needs pos/ and neg/ sub-folders).")
    examples = []
    for name, label in IMDB_LABELS.items():
        for file in sorted((folder / name).glob("*.txt"), key=_imdb_order):
            examples.append(Example(_read_text(file), None, label, f"{folder.name}/{name}/{file.stem}"))
    if not examples:
        raise BertkitError(f"{folder}: pos/ and neg/ hold no .txt reviews.")
    return examples


def read_imdb_folder(root, split: str) -> list[Example]:
    """Reads split `split` ("train" or "test") of an aclImdb root folder."""
    folder = Path(root) / split
    if not is_imdb_split(folder):
        raise BertkitError(
            f"{folder}: no aclImdb split here; an aclImdb root holds train/{{pos,neg}} and test/{{pos,neg}}."
        )
    return read_aclimdb(folder)


READERS = {"jsonl": read_jsonl, "csv": read_csv, "tsv": read_tsv, "aclimdb": read_aclimdb, "conll": read_conll,
           "squad": read_squad}


def detect_format(path) -> str:
    """The `READERS` key for a file (by extension) or folder (aclImdb split)."""
    path = Path(path)
    if not path.exists():
        raise BertkitError(f"{path}: no such file or folder.")
    if path.is_dir():
        if is_imdb_split(path):
            return "aclimdb"
        if is_imdb_root(path):
            raise BertkitError(
                f"{path}: an aclImdb root folder; read one split, {path / 'train'} or {path / 'test'} "
                f"(or call read_imdb_folder(root, split))."
            )
        raise BertkitError(
            f"{path}: a folder, but not an aclImdb split (no pos/ and neg/ sub-folders). "
            f"Pass a .jsonl, .csv or .tsv file instead."
        )
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise BertkitError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}; known extensions are "
            f"{sorted(SUFFIXES)}. Rename the file or pass format=<one of {sorted(READERS)}>."
        )
    return fmt


def read_examples(path, *, text_column="text", text_b_column=None, label_column="label", format=None):
    """Reads examples from a file or an aclImdb split folder.

    Args:
        path: a `.jsonl`, `.csv` or `.tsv` file, or an aclImdb split folder (`<root>/train`).
        text_column: name of the text column; the default "text" also accepts text_a, sentence, sentence1.
        text_b_column: name of the second text of a pair; None detects text_b / sentence2.
        label_column: name of the label column; if it is absent the examples are unlabelled.
        format: a `READERS` key, to override detection by extension.

    Returns:
        list[Example] in file order.
    """
    fmt = format or detect_format(path)
    if fmt not in READERS:
        raise BertkitError(f"unknown format {fmt!r}; known formats are {sorted(READERS)}.")
    if not Path(path).exists():
        raise BertkitError(f"{path}: no such file or folder.")
    return READERS[fmt](path, text_column=text_column, text_b_column=text_b_column, label_column=label_column)
