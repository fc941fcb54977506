"""NER report: entity-level scores per entity type (conlleval semantics) and the sentences with the
most entity errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bertkit.report import plotting
from bertkit.report.errors_table import short_id, shorten
from bertkit.report.html import Section
from bertkit.tasks.ner.metrics import conll_metrics, predicted_entities

ROWS = 15


def _entities(words, entities) -> str:
    return "; ".join(f"{kind}: {' '.join(words[a:b])}" for kind, a, b in entities) or "(none)"


def _per_type_figure(per_type: dict, out: Path) -> Path:
    names = list(per_type)
    x = np.arange(len(names))
    fig, ax = plotting.figure(height=3.2)
    for i, key in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (i - 1) * 0.27, [per_type[n][key] for n in names], 0.27, label=key)
    ax.set_xticks(x, names)
    ax.set(ylim=(0, 1.2), ylabel="score", title="Entity-level scores per type")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncols=3, fontsize=8, loc="upper center")  # above the bars (ylim 1.2)
    return plotting.save(fig, out / "ner_per_type.png")


def ner_sections(info, data, out: Path) -> list[Section]:
    """Per-type precision / recall / F1 and the sentences whose entities are most wrong."""
    pred, gold = [list(t) for t in data.predictions["tags"]], data.gold
    pred_entities = predicted_entities(data.predictions)
    metrics = conll_metrics(gold["tags"], pred, gold["entities"], pred_entities)
    section = Section("Named entities")
    section.table(["sentences", "tokens", "precision", "recall", "f1", "token accuracy"],
                  [[metrics["n"], metrics["tokens"], metrics["precision"], metrics["recall"], metrics["f1"],
                    metrics["accuracy"]]], f"Entity level (conlleval), on {data.source}")
    per_type = metrics.get("per_class") or {}
    if per_type:
        section.figure(_per_type_figure(per_type, out), "Precision, recall and F1 of each entity type.")
        keys = ("precision", "recall", "f1", "support")
        section.table(["type", *keys], [[n] + [s[k] for k in keys] for n, s in per_type.items()],
                      "Per entity type (support = gold entities)")
    else:
        section.lack("No gold or predicted entities: no per-type scores.")

    errors = Section("Error analysis")
    wrong = [len(set(g) ^ set(p)) for g, p in zip(gold["entities"], pred_entities)]
    order = [i for i in np.argsort(wrong, kind="stable")[::-1] if wrong[i] > 0][:ROWS]
    if not order:
        errors.note("Every sentence's entities are right.")
    else:
        errors.heading("Sentences with the most entity errors")
        errors.table(["#", "sentence", "gold entities", "predicted entities", "errors", "id"],
                     [[rank, shorten(" ".join(data.examples[i].words)),
                       _entities(data.examples[i].words, gold["entities"][i]),
                       _entities(data.examples[i].words, pred_entities[i]),
                       wrong[i], short_id(data.guids[i])] for rank, i in enumerate(order, 1)])
        errors.note(f"{sum(w > 0 for w in wrong):,} of {len(wrong):,} sentences have at least one wrong or missed "
                    "entity (errors = entities in gold or prediction but not both).")
    return [section, errors]
