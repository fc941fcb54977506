"""The one-screen summary `bertkit train` prints at the end of a run."""

from __future__ import annotations

import json
import math
import textwrap

from bertkit.core.errors import BertkitError
from bertkit.metrics import SCALARS
from bertkit.report.runinfo import last_run, read_history

# The metrics table's scalars (the tutorial's hard-label AUC aside) and QA's exact match.
SHOWN = tuple(n for n in SCALARS if n != "auc_hard_labels") + ("exact_match",)
MAX_EPOCH_LINES = 8
WIDTH = 110  # longer lines (paths) are wrapped


def _num(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalars(metrics: dict, main: str | None) -> str:
    names = [n for n in dict.fromkeys([main, *SHOWN]) if n and _num(metrics.get(n))]
    return "   ".join(f"{n} {metrics[n]:.4f}" for n in names)


def finish_run(result, build: bool = True) -> str:
    """Builds the run's report (unless `build` is False) and returns the end-of-training summary."""
    from bertkit.training.strategy import is_chief

    if result.run_dir is None or not is_chief():  # other workers of a multi-worker run write nothing
        return train_summary(result, [], None, "none (the run was not saved by this process)")
    from bertkit.report.build import build_report

    records, _ = read_history(result.run_dir / "history.jsonl")
    start, rest, _ = last_run(records)
    history = ([start] if start else []) + rest
    command = f"bertkit report {result.run_dir}"
    if not build:
        return train_summary(result, history, None, f"not built; run `{command}`")
    try:
        index = build_report(result.run_dir)
    except BertkitError as e:
        return train_summary(result, history, None, f"not built ({e}); fix that, then run `{command}`")
    missing = json.loads((index.parent / "summary.json").read_text())["missing"]
    note = f"{len(missing)} part(s) could not be built: see \"What is missing\" at its top." if missing else ""
    return train_summary(result, history, str(index), note)


def train_summary(result, history: list[dict], report: str | None, report_note: str) -> str:
    """About 15 lines: data, per-epoch loss and main metric, final metrics, timing and where things are.

    Args:
        result: the `bertkit.api.TrainResult`.
        history: the run's history records, from its "start" record on.
        report: path of the report's index.html, or None when it was not built.
        report_note: what to do instead when there is no report (or extra notes about it).
    """
    start = next((r for r in history if r.get("kind") == "start"), {})
    main = start.get("main_metric") or "accuracy"
    epochs = [r for r in history if r.get("kind") == "epoch"]
    stats = result.stats
    lines = ["", "=" * 72, f"bertkit train: done  ({result.run_dir or 'in memory'})"]
    if start.get("data"):
        lines.append(f"  data     {start['data']}")
    shown = epochs if len(epochs) <= MAX_EPOCH_LINES else epochs[:2] + epochs[-(MAX_EPOCH_LINES - 3):]
    for r in shown:
        if epochs.index(r) == 2 and len(shown) < len(epochs):
            lines.append(f"  ...      ({len(epochs) - len(shown)} epochs not shown)")
        value = (r.get("eval") or {}).get(main)
        metric = f"   {main} {value:.4f}" if _num(value) else ""
        lines.append(f"  epoch {r.get('epoch')}  train loss {r.get('train_loss', float('nan')):.4f}{metric}")
    best = next((r for r in history if r.get("kind") == "best"), None)
    if stats.get("stopped_early"):
        lines.append(f"  stopped  early, after epoch {stats.get('epochs_run')} (no gain within --patience epochs)")
    if best is not None:
        lines.append(f"  best     epoch {best.get('epoch')}: its weights were kept")
    if result.metrics:
        lines.append(f"  final    {_scalars(result.metrics, main)}   (n = {result.metrics.get('n', '?')})")
    else:
        lines.append("  final    no evaluation (no test or dev split)")
    lines.append(f"  time     {stats['train_examples']:,} examples in {stats['train_seconds']:.1f} s "
                 f"({stats['examples_per_second']:.1f} examples/s)")
    lines.append(f"  model    {result.model.path or '(not saved)'}")
    if result.run_dir is not None:
        lines.append(f"  history  {result.run_dir / 'history.jsonl'}   (TensorBoard: {result.run_dir / 'tensorboard'})")
    lines.append(f"  report   {report}" if report else f"  report   {report_note}")
    if report and report_note:
        lines.append(f"           {report_note}")
    lines.append("=" * 72)
    return "\n".join(textwrap.fill(line, WIDTH, subsequent_indent=" " * 11, break_on_hyphens=False,
                                   break_long_words=False) if len(line) > WIDTH else line for line in lines)
