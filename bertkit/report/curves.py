"""Training and evaluation curves from the history: loss and learning rate per step, metrics per epoch."""

from __future__ import annotations

import math
from pathlib import Path

from bertkit.report import plotting
from bertkit.report.html import Section
from bertkit.report.runinfo import RunInfo

# Plotted next to the main metric when the evaluation has them (all in [0, 1], higher is better).
COMPANIONS = ("accuracy", "f1", "auc", "precision", "recall", "exact_match")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def main_metric(info: RunInfo) -> str | None:
    """The metric the task optimises: recorded at the start of the run, else guessed from the evaluation."""
    recorded = (info.start or {}).get("main_metric")
    if recorded:
        return recorded
    evals = [r.get("eval") or {} for r in info.epochs] + [info.metrics or {}]
    for name in COMPANIONS:
        if any(_number(e.get(name)) for e in evals):
            return name
    return None


def _epoch_lines(ax, info: RunInfo) -> None:
    ax.xaxis.get_major_locator().set_params(integer=True)
    for r in info.epochs[:-1] if len(info.epochs) <= 30 else []:
        ax.axvline(r["step"], color="0.85", lw=0.8, zorder=0)


def _loss_figure(info: RunInfo, out: Path) -> Path:
    fig, ax = plotting.figure()
    steps = [r["step"] for r in info.train if _number(r.get("loss"))]
    ax.plot(steps, [r["loss"] for r in info.train if _number(r.get("loss"))], lw=1, alpha=0.7,
            label="training loss (logged steps)")
    epochs = [r for r in info.epochs if _number(r.get("train_loss"))]
    if epochs:
        ax.plot([r["step"] for r in epochs], [r["train_loss"] for r in epochs], "o-", lw=2,
                label="mean training loss of the epoch")
    _epoch_lines(ax, info)
    ax.set(xlabel="optimizer step", ylabel="loss", title="Training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return plotting.save(fig, out / "curve_loss.png")


def _lr_figure(info: RunInfo, out: Path) -> Path:
    fig, ax = plotting.figure(height=2.8)
    rows = [r for r in info.train if _number(r.get("learning_rate"))]
    ax.plot([r["step"] for r in rows], [r["learning_rate"] for r in rows], lw=1.5)
    _epoch_lines(ax, info)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.set(xlabel="optimizer step", ylabel="learning rate", title="Learning rate (warm-up, then linear decay)")
    ax.grid(alpha=0.3)
    return plotting.save(fig, out / "curve_learning_rate.png")


def _eval_figure(info: RunInfo, main: str, names: list[str], out: Path) -> Path:
    fig, ax = plotting.figure()
    values, epochs = [], set()
    for name in names:
        rows = [(r["epoch"], r["eval"][name]) for r in info.epochs
                if _number(r.get("epoch")) and _number((r.get("eval") or {}).get(name))]
        values += [v for _, v in rows]
        epochs.update(e for e, _ in rows)
        bold = name == main
        ax.plot([e for e, _ in rows], [v for _, v in rows], "o-" if bold else ".--", lw=2.4 if bold else 1.2,
                label=f"{name} (main metric)" if bold else name, zorder=3 if bold else 2)
    best = (info.best or {}).get("epoch")
    if best is not None:
        ax.axvline(best, color="C2", ls=":", lw=1.5, label=f"best epoch {best} (weights kept)")
    ax.set(xlabel="epoch", ylabel="evaluation score", title="Evaluation after each epoch")
    if len(epochs) <= 20:
        ax.set_xticks(sorted(epochs))
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)
    if all(0 <= v <= 1 for v in values):  # scores and rates: show them on their whole scale
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    return plotting.save(fig, out / "curve_eval.png")


def curves_section(info: RunInfo, out: Path) -> Section:
    """Loss and learning rate per logged step, evaluation metrics per epoch, and a per-epoch table."""
    section = Section("Training curves")
    if not info.train and not info.epochs:
        section.lack("No training records in the history: no curves.")
        return section
    if info.train:
        section.figure(_loss_figure(info, out), "Training loss per logged step; dots: mean loss of each epoch, "
                                                "at the step where the epoch ended (grey lines).")
        section.figure(_lr_figure(info, out), "Learning rate per logged step.")
    main = main_metric(info)
    evals = [r.get("eval") or {} for r in info.epochs]
    names = [n for n in dict.fromkeys([main, *COMPANIONS]) if n and any(_number(e.get(n)) for e in evals)]
    if names:
        section.figure(_eval_figure(info, main, names, out),
                       f"Evaluation metrics after each epoch; the task's main metric is {main}.")
    elif info.epochs:
        section.lack("The epochs have no evaluation metrics (no test split, or evaluation was switched off): "
                     "no evaluation curve.")
    if info.epochs:
        extra = [n for n in names if n != main][:3]
        header = ["epoch", "step", "train loss", "seconds"] + ([main] if main in names else []) + extra
        rows = []
        for r, e in zip(info.epochs, evals):
            row = [r.get("epoch"), r.get("step"), r.get("train_loss"), r.get("epoch_seconds")]
            rows.append(row + [e.get(n) for n in header[4:]])
        section.table(header, rows, "Per epoch")
    return section
