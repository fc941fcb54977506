"""SQuAD v1.1 JSON (and JSONL question/context rows for prediction), and the by-article split.

SQuAD JSON: `{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers":
[{"text", "answer_start"}]}]}]}]}`. Every answer is checked against its context: the text must be found
at `answer_start`, else the error names the question id.

The shared data has only SQuAD's dev set, so `split_by_article` makes a train / evaluation split of
it: the articles are ranked by the SHA-256 of their title and the first 30% (15 of the 48) are held
out for evaluation. The split depends only on the titles, not on the file order or a seed, so every
run and every `evaluate` sees the same held-out articles.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from bertkit.core.errors import BertkitError

EVAL_FRACTION = 0.3


@dataclass(frozen=True)
class QAExample:
    """One question about one context.

    Attributes:
        qid: the question id.
        question: the question text.
        context: the paragraph the answer is taken from.
        answers: `((text, answer_start), ...)`, empty when unlabelled; training uses the first.
        title: the article title.
        guid: where it came from, `<path> (id <qid>)` or `<path>:<line>`.
    """

    qid: str
    question: str
    context: str
    answers: tuple = ()
    title: str = ""
    guid: str | None = None


def _get(obj, key, kind, where):
    if not isinstance(obj, dict) or key not in obj:
        raise BertkitError(f"{where}: missing key {key!r}.")
    value = obj[key]
    if not isinstance(value, kind):
        raise BertkitError(f"{where}: {key!r} must be a {kind.__name__}, got {type(value).__name__}.")
    return value


def _answers(qa: dict, context: str, where: str) -> tuple:
    out = []
    for k, ans in enumerate(qa.get("answers") or []):
        text = _get(ans, "text", str, f"{where} answer {k}")
        start = _get(ans, "answer_start", int, f"{where} answer {k}")
        found = context[start:start + len(text)]
        if start < 0 or found != text:
            raise BertkitError(
                f"{where}: answer {k} {text!r} does not match its context at answer_start {start} "
                f"(the context there reads {found!r}). Fix answer_start or the answer text."
            )
        out.append((text, start))
    return tuple(out)


def read_squad(path, **_columns) -> list[QAExample]:
    """Reads a SQuAD v1.1 JSON file.

    Returns:
        One `QAExample` per question, in file order; guid `<path> (id <qid>)`.

    Raises:
        BertkitError: invalid JSON (with line), a missing key, or an answer that is not at its offset,
            naming the question id.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BertkitError(f"{path}: no such file.") from None
    except json.JSONDecodeError as e:
        raise BertkitError(f"{path}:{e.lineno}: not valid JSON ({e.msg}).") from None
    articles = _get(data, "data", list, f"{path}")
    examples = []
    for a, article in enumerate(articles):
        title = article.get("title", f"article {a}") if isinstance(article, dict) else ""
        for p, para in enumerate(_get(article, "paragraphs", list, f"{path}: article {title!r}")):
            where_p = f"{path}: article {title!r} paragraph {p}"
            context = _get(para, "context", str, where_p)
            for q, qa in enumerate(_get(para, "qas", list, where_p)):
                qid = str(qa.get("id", f"{title}/{p}/{q}")) if isinstance(qa, dict) else f"{title}/{p}/{q}"
                where = f"{path} (id {qid})"
                question = _get(qa, "question", str, where)
                examples.append(QAExample(qid, question, context, _answers(qa, context, where), title, where))
    if not examples:
        raise BertkitError(f"{path}: no questions found under data[].paragraphs[].qas[].")
    return examples


def read_qa_jsonl(path) -> list[QAExample]:
    """Reads JSON Lines rows `{"question", "context"[, "id"][, "answers"]}` (prediction input)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise BertkitError(f"{path}: no such file.") from None
    examples = []
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise BertkitError(f"{where}: not valid JSON ({e.msg}).") from None
        question, context = _get(row, "question", str, where), _get(row, "context", str, where)
        qid = str(row.get("id", where))
        examples.append(QAExample(qid, question, context, _answers(row, context, where), "", where))
    if not examples:
        raise BertkitError(f"{path}: no rows; expected one {{\"question\": ..., \"context\": ...}} per line.")
    return examples


def title_rank(title: str) -> str:
    return hashlib.sha256(title.encode("utf-8")).hexdigest()


def split_by_article(examples, eval_fraction: float = EVAL_FRACTION) -> tuple[list, list, list[str]]:
    """Splits questions by article: the `ceil(eval_fraction * articles)` titles with the smallest
    SHA-256 are held out.

    Returns:
        (train examples, eval examples, held-out titles sorted).
    """
    titles = sorted({e.title for e in examples}, key=title_rank)
    if len(titles) < 2:
        raise BertkitError("a by-article split needs at least two articles (titles).")
    held = set(titles[:max(1, math.ceil(eval_fraction * len(titles)))])
    train = [e for e in examples if e.title not in held]
    test = [e for e in examples if e.title in held]
    return train, test, sorted(held)
