"""A plain-Python reference of Google's original BERT WordPiece tokenizer (the test oracle).

Written from the algorithm of google-research/bert `tokenization.FullTokenizer`: basic tokenization
(clean, space out CJK ideographs, whitespace split, lower-case + strip accents, split punctuation)
followed by greedy longest-match-first WordPiece. It is deliberately slow and obvious: every step is
one small function over Python strings, so a reader can check it against the description line by
line. `bertkit.tokenization.Tokenizer` must give the same ids.
"""

from __future__ import annotations

import unicodedata

MAX_INPUT_CHARS_PER_WORD = 200  # the official WordpieceTokenizer default

# The ideograph blocks the official code treats as "Chinese characters" (CJK Unified Ideographs,
# Extensions A-E, Compatibility Ideographs and their Supplement). Hangul and kana are not in it.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def load_vocab(path: str) -> dict[str, int]:
    """Token -> id, one token per line (split on "\\n" only); the line number is the id.

    As in the official code a repeated token keeps its last line number.
    """
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    return {line.strip(): index for index, line in enumerate(lines)}


def is_whitespace(ch: str) -> bool:
    """Space, tab, newline, carriage return, or any Unicode space separator (Zs)."""
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch: str) -> bool:
    """Cc and Cf except tab/newline/CR, which count as whitespace. Private-use (Co) and unassigned (Cn)
    characters are not control characters: they stay in their word."""
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def is_punctuation(ch: str) -> bool:
    """All non-alphanumeric printable ASCII (so `$`, `^`, `+` too) or any Unicode "P*"."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def clean_text(text: str) -> str:
    """Drops NUL, U+FFFD and control characters (Cc, Cf); maps every whitespace character to a space."""
    out = []
    for ch in text:
        if ord(ch) == 0 or ord(ch) == 0xFFFD or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def space_cjk(text: str) -> str:
    return "".join(f" {ch} " if is_cjk(ord(ch)) else ch for ch in text)


def strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def split_punctuation(token: str) -> list[str]:
    """"a,b!" -> ["a", ",", "b", "!"]: every punctuation character becomes its own token."""
    pieces, current = [], []
    for ch in token:
        if is_punctuation(ch):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(ch)
        else:
            current.append(ch)
    if current:
        pieces.append("".join(current))
    return pieces


def basic_tokenize(text: str, do_lower_case: bool = True) -> list[str]:
    """Text -> words and punctuation, before WordPiece."""
    text = space_cjk(clean_text(text))
    words = []
    # str.split() (not only " "): it also splits on U+2028/U+2029 etc., as the official code does.
    for token in text.split():
        if do_lower_case:
            token = strip_accents(token.lower())
        words.extend(split_punctuation(token))
    return " ".join(words).split()


def wordpiece(word: str, vocab: dict[str, int], unk: str = "[UNK]") -> list[str]:
    """Greedy longest-match-first; the whole word becomes `unk` if any position has no match."""
    if len(word) > MAX_INPUT_CHARS_PER_WORD:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return [unk]
        pieces.append(piece)
        start = end
    return pieces


def tokenize(text: str, vocab: dict[str, int], do_lower_case: bool = True) -> list[str]:
    """Text -> WordPiece token strings, like `FullTokenizer.tokenize`."""
    return [p for word in basic_tokenize(text, do_lower_case) for p in wordpiece(word, vocab)]


def token_ids(text: str, vocab: dict[str, int], do_lower_case: bool = True) -> list[int]:
    return [vocab[t] for t in tokenize(text, vocab, do_lower_case)]


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
    """In place: pop from the end of the longer list (b on ties) until the total fits."""
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()
