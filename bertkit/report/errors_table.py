"""Where the model is wrong: its most confident mistakes and its least confident correct answers."""

from __future__ import annotations

import numpy as np

from bertkit.report.html import Section

ROWS = 15  # rows per table
MAX_CHARS = 600  # longer texts are cut in the middle, where a reader loses least


def shorten(text: str, limit: int = MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{text[:half]} […] {text[-half:]}"


def _text(example, guid: str) -> str:
    if example is None:
        return f"[{guid}: text not available]"
    if example.text_b is not None:
        return f"{shorten(example.text_a, MAX_CHARS // 2)}  ‖  {shorten(example.text_b, MAX_CHARS // 2)}"
    return shorten(example.text_a)


def short_id(guid: str) -> str:
    """`/long/path/test.jsonl:17` -> `test.jsonl:17` (the full path is in the report's header)."""
    return str(guid).rsplit("/", 1)[-1]


def confident_rows(probs: np.ndarray, gold: np.ndarray, mistakes: bool, rows: int = ROWS) -> np.ndarray:
    """Indices of the `rows` most confident mistakes (or least confident correct predictions).

    Confidence is the probability of the predicted class; ties keep file order.
    """
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    chosen = np.flatnonzero((pred != gold) if mistakes else (pred == gold))
    order = np.argsort(-conf[chosen] if mistakes else conf[chosen], kind="stable")
    return chosen[order[:rows]]


def errors_section(probs: np.ndarray, gold: np.ndarray, labels: list[str], examples, guids) -> Section:
    """Two tables: text, gold, predicted, probability of the prediction, and the example's id."""
    section = Section("Error analysis")
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    header = ["#", "text", "gold", "predicted", "probability", "id"]
    for mistakes, title in ((True, "Most confident mistakes"), (False, "Least confident correct predictions")):
        section.heading(title)
        idx = confident_rows(probs, gold, mistakes)
        if len(idx) == 0:
            section.note("None: every prediction is wrong." if not mistakes else "None: no mistakes.")
            continue
        section.table(header, [[rank, _text(examples[i], guids[i]), labels[gold[i]], labels[pred[i]],
                                float(conf[i]), short_id(guids[i])] for rank, i in enumerate(idx, 1)])
    wrong = int((pred != gold).sum())
    section.note(f"{wrong:,} of {len(gold):,} predictions are wrong. Probability = the model's probability "
                 f"of the class it predicted; texts over {MAX_CHARS} characters are cut in the middle.")
    return section
