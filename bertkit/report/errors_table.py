"""Helpers for the error tables of the run report (each task's own report lists its mistakes)."""

from __future__ import annotations

ROWS = 15  # rows per table
MAX_CHARS = 600  # longer texts are cut in the middle, where a reader loses least


def shorten(text: str, limit: int = MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{text[:half]} […] {text[-half:]}"


def short_id(guid: str) -> str:
    """`/long/path/test.jsonl:17` -> `test.jsonl:17` (the full path is in the report's header)."""
    return str(guid).rsplit("/", 1)[-1]
