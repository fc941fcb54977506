"""QA report: exact match and F1 by question type (the question's first word), and the most
confident wrong answers."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from bertkit.report import plotting
from bertkit.report.errors_table import short_id, shorten
from bertkit.report.html import Section
from bertkit.tasks.qa.metrics import exact_match, token_f1

MAX_TYPES = 12  # first words shown; the rest are grouped as "other"
ROWS = 15


def question_type(question: str) -> str:
    """The question's first word, lower-cased ("what", "how", "in", ...)."""
    words = question.strip().lower().split()
    return words[0].strip("?,.:;!\"'") if words else "(empty)"


def _by_type_figure(rows: list[list], out: Path) -> Path:
    names = [r[0] for r in rows]
    x = np.arange(len(names))
    fig, ax = plotting.figure(height=3.4)
    ax.bar(x - 0.2, [r[2] for r in rows], 0.4, label="exact match")
    ax.bar(x + 0.2, [r[3] for r in rows], 0.4, label="F1")
    ax.set_xticks(x, [f"{n}\n({r[1]:,})" for n, r in zip(names, rows)], fontsize=8)
    ax.set(ylim=(0, 1.2), ylabel="score", title="By question type (first word; number of questions)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncols=2, fontsize=8, loc="upper center")  # above the bars (ylim 1.2)
    return plotting.save(fig, out / "qa_by_question_type.png")


def qa_sections(info, data, out: Path) -> list[Section]:
    """EM / F1 overall and per question type, and the most confident wrong answers."""
    answers = [nbest[0] for nbest in data.scores]
    em = np.array([max(exact_match(a["text"], g) for g in golds) for a, golds in zip(answers, data.gold)])
    f1 = np.array([max(token_f1(a["text"], g) for g in golds) for a, golds in zip(answers, data.gold)])
    section = Section("Question answering")
    section.table(["questions", "exact match", "f1"], [[len(em), float(em.mean()), float(f1.mean())]],
                  f"On {data.source}")
    groups = defaultdict(list)
    for i, e in enumerate(data.examples):
        groups[question_type(e.question)].append(i)
    common = sorted(groups, key=lambda t: -len(groups[t]))[:MAX_TYPES]
    rest = [i for t in groups if t not in common for i in groups[t]]
    rows = [[t, len(groups[t]), float(em[groups[t]].mean()), float(f1[groups[t]].mean())] for t in common]
    if rest:
        rows.append([f"other ({len(groups) - len(common)} types)", len(rest), float(em[rest].mean()),
                     float(f1[rest].mean())])
    section.figure(_by_type_figure(rows, out), "Exact match and F1 by the question's first word.")
    section.table(["question type", "questions", "exact match", "f1"], rows, "By question type (first word)")

    errors = Section("Error analysis")
    prob = np.array([float(a.get("probability", 0.0)) for a in answers])
    wrong = np.flatnonzero(f1 == 0)
    order = wrong[np.argsort(-prob[wrong], kind="stable")][:ROWS]
    if len(order) == 0:
        errors.note("No answer is entirely wrong (every F1 > 0).")
    else:
        errors.heading("Most confident wrong answers (F1 = 0)")
        errors.table(["#", "question", "gold answers", "predicted", "probability", "id"],
                     [[rank, shorten(data.examples[i].question), " | ".join(dict.fromkeys(data.gold[i])),
                       answers[i]["text"], float(prob[i]), short_id(data.guids[i])] for rank, i in enumerate(order, 1)])
        errors.note(f"{len(wrong):,} of {len(f1):,} answers share no word with any gold answer.")
    return [section, errors]
