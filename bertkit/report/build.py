"""Builds `RUN/report/`: PNG plots, `index.html` (self-contained) and `summary.json`.

Sections: training curves (any task), token lengths (any task with texts), then the task's own
analysis (`Task.report_sections(run info, eval data, output folder) -> [Section]`).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from bertkit.data import Example
from bertkit.core.io import atomic_directory
from bertkit.report import predictions, rerun
from bertkit.report.curves import curves_section, main_metric
from bertkit.report.html import Section, render_page
from bertkit.report.lengths import lengths_section
from bertkit.report.plotting import pyplot
from bertkit.report.predictions import EvalData
from bertkit.report.runinfo import RunInfo, read_run

REPORT_DIR = "report"


def _eval_data(info: RunInfo, data, max_examples: int) -> tuple[EvalData | None, list[str]]:
    """The predictions to analyse, and what stood in the way of getting them."""
    if info.bundle is None:  # already noted by read_run
        return None, [f"--data {data} was not used: there is no model to run on it."] if data is not None else []
    if data is not None:
        return rerun.predict_data(info.bundle, data, max_examples), []
    test_file = (info.start or {}).get("test_data")
    saved = predictions.load_saved(info.run_dir, test_file)
    if saved is not None and saved.scores is not None:
        return saved, []
    lacks = saved.missing if saved is not None else []
    if test_file and Path(test_file).exists():
        only = saved.guids if saved is not None and saved.guids else None
        computed = rerun.predict_data(info.bundle, test_file, max_examples, only=only)
        if only is None:
            computed.notes.insert(0, f"The run saved no readable {predictions.PREDICTIONS_FILE}: the model was "
                                     f"run again on {test_file}.")
        computed.missing[:0] = lacks
        return computed, []
    why = (f"the evaluation file {test_file} no longer exists" if test_file
           else "the history does not say which file the run evaluated on")
    return None, lacks + [f"No predictions to analyse: {why}. Pass labelled data with --data FILE."]


def _facts(info: RunInfo, data: EvalData | None) -> list[tuple[str, str]]:
    start = info.start or {}
    facts = [("run folder", str(info.run_dir.resolve())), ("task", info.task or "unknown")]
    if info.task_config is not None and info.task_config.labels:
        facts.append(("labels", ", ".join(map(str, info.task_config.labels))))
    for key, label in (("data", "training data"), ("model", "pretrained model"), ("policy", "precision")):
        if start.get(key):
            facts.append((label, str(start[key])))
    if info.preprocess is not None:
        facts.append(("max_seq_length", f"{info.preprocess.max_seq_length} (truncation {info.preprocess.truncation})"))
    if data is not None:
        facts.append(("analysed data", f"{data.source}: {len(data.guids):,} examples"))
    final = info.metrics or (info.epochs[-1].get("eval") if info.epochs else None) or {}
    name = main_metric(info)
    if name and isinstance(final.get(name), (int, float)):
        facts.append(("final " + name, f"{final[name]:.4f}"))
    facts.append(("report written", datetime.datetime.now().isoformat(timespec="seconds")))
    return facts


def _data_section(info: RunInfo, data: EvalData, out: Path) -> Section:
    texts = [e for e in data.examples if isinstance(e, Example)]
    if texts:
        section = lengths_section(texts, info.bundle, info.preprocess, out, data.source)
    elif any(e is not None for e in data.examples):
        section = Section("Token lengths")
        section.note(f"No token-length histogram for task {info.task!r}: its examples are not plain texts, and "
                     "long inputs are split into overlapping windows rather than truncated.")
    else:
        section = Section("Token lengths")
        section.lack("No texts available: no token-length histogram.")
    section.title = "Data and token lengths"
    intro = [("note", f"Analysed data: {data.source}, {len(data.guids):,} examples.")]
    intro += [("note", n) for n in data.notes] + [("missing", m) for m in data.missing]
    section.blocks[:0] = intro
    section.missing[:0] = data.missing
    return section


def _sections(info: RunInfo, data: EvalData | None, out: Path) -> list[Section]:
    sections = [curves_section(info, out)]
    if data is None:
        return sections
    sections.append(_data_section(info, data, out))
    own = task_sections(info, data, out) if data.gold is not None and data.scores is not None else None
    if own:
        return sections + own
    analysis = Section(f"Task analysis ({info.task})")
    if own is None:
        analysis.lack("No gold labels or scores: no metrics or error analysis.")
    else:
        analysis.lack(f"Task {info.task!r} has no analysis of its own in this bertkit.")
    return sections + [analysis]


def task_sections(info: RunInfo, data: EvalData, out: Path) -> list[Section]:
    """The task's own analysis (`Task.report_sections`), for a task this bertkit knows."""
    from bertkit.tasks import TASKS

    task = TASKS.get(info.task)
    return task.report_sections(info, data, out) if task is not None else []


def build_report(run_dir, data=None, max_examples: int = predictions.MAX_EXAMPLES) -> Path:
    """Writes `run_dir/report/` (replacing an older one in a single rename) and returns its index.html.

    Args:
        run_dir: the folder `bertkit train --output` wrote.
        data: labelled data to analyse (file, folder or dataset name); None uses the predictions the
            run saved at its final evaluation, or else re-runs the model on the run's test file.
        max_examples: most examples the model is run on (a seeded sample); saved predictions are used
            in full.

    Returns:
        The path of `index.html`. Whatever could not be built is said at the top of the page and in
        `summary.json` ("missing").

    Raises:
        BertkitError: no such run folder, matplotlib not installed, or unreadable `--data`.
    """
    pyplot()  # fail early and clearly if matplotlib is missing
    info = read_run(run_dir)
    data, notes = _eval_data(info, data, max_examples)
    target = info.run_dir / REPORT_DIR
    with atomic_directory(target) as out:
        out.chmod(0o755)  # a temporary folder is private; the report is for reading
        sections = _sections(info, data, out)
        if notes:
            sections.append(Section("Predictions", [("missing", n) for n in notes]))
        missing = info.missing + notes + [m for s in sections for m in s.missing]
        title = f"bertkit run report: {info.run_dir.resolve().name}"
        (out / "index.html").write_text(render_page(title, _facts(info, data), missing, sections), encoding="utf-8")
        summary = {"run_dir": str(info.run_dir), "task": info.task, "missing": missing,
                   "sections": [s.title for s in sections],
                   "figures": [p.name for s in sections for p in s.figures]}
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return target / "index.html"
