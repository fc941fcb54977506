"""CoNLL column files (CoNLL-2003 `eng.train` / `eng.testa` / `eng.testb`, or any `word ... tag` file).

Format: one token per line, columns separated by whitespace, the word first and the NER tag last
(CoNLL-2003: `word POS chunk NER`); a blank line ends a sentence; `-DOCSTART-` lines separate
documents: they are not words, and each sentence records the document it belongs to (`document`,
`<path>:<line of its -DOCSTART->`), so a task can read a sentence with its neighbours as context.
Every token line of a file must have the same number of columns as its
first one. A file with a single column is unlabelled (words only, for prediction).

Tags are returned as they are in the file (CoNLL-2003 uses IOB1); `to_bio` converts IOB1 to IOB2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bertkit.core.errors import BertkitError

_TAG = re.compile(r"^(O|[BI]-\S+)$")
# Raw text -> words: a run of word characters (with inner . ' & - kept, as in "U.S", "1996-08-22",
# "don't"), or any other single non-space character (punctuation stands alone).
_WORD = re.compile(r"[^\W_](?:[\w.'&-]*[^\W_])?|\S")
# The same in RE2 (TensorFlow's regex ops, for a SavedModel export): RE2's \w and \s are ASCII only, so
# the Unicode classes are spelled out. Python's \w is [\p{L}\p{N}_]; its \s is str.isspace().
WHITESPACE_RE2 = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\p{Z}"
WORD_RE2 = r"[\p{L}\p{N}](?:[\p{L}\p{N}_.'&-]*[\p{L}\p{N}])?|[^" + WHITESPACE_RE2 + "]"


@dataclass(frozen=True)
class TokenExample:
    """One sentence of pre-split words with optional per-word tags.

    Attributes:
        words: the words.
        tags: one tag per word (`O`, `B-X`, `I-X`), or None when unlabelled.
        guid: where it came from, `<path>:<line of the first word>`.
        text: the original text; words joined by single spaces when the input was pre-split.
        offsets: `(start, end)` character offsets of each word in `text`.
        document: the document the sentence belongs to (`<path>:<line of its -DOCSTART->`), or None
            when the source has no document boundaries; consecutive sentences of one document are
            each other's context.
    """

    words: tuple
    tags: tuple | None = None
    guid: str | None = None
    text: str | None = None
    offsets: tuple | None = None
    document: str | None = None

    def __post_init__(self):
        if self.text is None:  # pre-split words: the text is the words joined by one space
            offsets, pos = [], 0
            for w in self.words:
                offsets.append((pos, pos + len(w)))
                pos += len(w) + 1
            object.__setattr__(self, "text", " ".join(self.words))
            object.__setattr__(self, "offsets", tuple(offsets))

    @classmethod
    def from_text(cls, text: str, guid: str | None = None) -> TokenExample:
        """Splits raw text into words (whitespace, and punctuation as separate words), keeping offsets."""
        matches = list(_WORD.finditer(text))
        return cls(tuple(m.group() for m in matches), None, guid, text, tuple(m.span() for m in matches))


def read_conll(path, **_columns) -> list[TokenExample]:
    """Reads a CoNLL column file into sentences.

    Args:
        path: the file (`eng.train`, `*.conll`, ...).
        **_columns: accepted for the uniform reader signature and ignored.

    Returns:
        One `TokenExample` per sentence, in file order; guid `<path>:<line of its first word>`;
        `document` `<path>:<line of the -DOCSTART- before it>` (None before the first one).

    Raises:
        BertkitError: naming `path:line` for a line with the wrong number of columns or a tag that is
            not `O`, `B-TYPE` or `I-TYPE`, and for an unreadable or empty file.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise BertkitError(f"{path}: no such file.") from None
    except UnicodeDecodeError as e:
        raise BertkitError(f"{path}: not valid UTF-8 (byte offset {e.start}); re-encode the file as UTF-8.") from None
    examples: list[TokenExample] = []
    ncols = first_line = None
    words, tags, start, document = [], [], 0, None

    def flush():
        if words:
            examples.append(TokenExample(tuple(words), tuple(tags) if ncols > 1 else None, f"{path}:{start}",
                                         document=document))
        words.clear()
        tags.clear()

    for lineno, raw in enumerate(lines, start=1):
        cols = raw.split()
        if not cols:
            flush()
            continue
        if cols[0] == "-DOCSTART-":
            flush()
            document = f"{path}:{lineno}"
            continue
        if ncols is None:
            ncols, first_line = len(cols), lineno
        elif len(cols) != ncols:
            raise BertkitError(
                f"{path}:{lineno}: {len(cols)} columns, but the first token line ({first_line}) has {ncols}. "
                f"Every token line needs the same columns (CoNLL-2003: word POS chunk NER); a word cannot "
                f"contain spaces."
            )
        if ncols > 1 and not _TAG.match(cols[-1]):
            raise BertkitError(
                f"{path}:{lineno}: tag {cols[-1]!r} in the last column is not O, B-TYPE or I-TYPE."
            )
        if not words:
            start = lineno
        words.append(cols[0])
        if ncols > 1:
            tags.append(cols[-1])
    flush()
    if not examples:
        raise BertkitError(f"{path}: no sentences; expected CoNLL lines `word ... TAG` separated by blank lines.")
    return examples


def to_bio(tags) -> list[str]:
    """IOB1 (CoNLL-2003: `B-` only between two adjacent entities of one type) -> IOB2 / BIO.

    An `I-X` that does not continue an entity of type X starts one, so becomes `B-X`. IOB2 input is
    returned unchanged.
    """
    out, prev = [], "O"
    for tag in tags:
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


def entity_types(tags) -> list[str]:
    """Sorted entity types (`PER`, `LOC`, ...) present in a tag sequence."""
    return sorted({t[2:] for t in tags if t != "O"})
