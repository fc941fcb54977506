"""What a search leaves to read: the study table (`OUTPUT/study.csv`, `OUTPUT/study.json`) and the search
report (`OUTPUT/report/index.html`: the value of every trial with the best-so-far line, pruned trials
marked, and the table), built with the run report's sections and page."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from bertkit.core.errors import BertkitError
from bertkit.core.io import atomic_directory, atomic_write_text
from bertkit.report import plotting
from bertkit.report.html import Section, render_page
from bertkit.tuning.space import SEARCHED

BEST_FILE = "best.json"
COLUMNS = ("trial", "state", *SEARCHED, "value", "epochs_run", "wall_seconds", "retry_of", "given", "run_dir")


def study_rows(study) -> list[dict]:
    """One row per trial, in trial order: its state, settings, value (a pruned trial's last reported
    value), epochs run, wall seconds, and whether its settings were given (`first_trial`) or sampled."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        value = t.value if t.value is not None else (t.intermediate_values[max(t.intermediate_values)]
                                                     if t.intermediate_values else None)
        rows.append({"trial": t.number, "state": t.state.name, **{k: t.params.get(k) for k in SEARCHED},
                     "value": value, "epochs_run": t.user_attrs.get("epochs_run"),
                     "wall_seconds": t.user_attrs.get("wall_seconds"), "retry_of": t.user_attrs.get("retry_of"),
                     "given": bool(t.user_attrs.get("given")), "run_dir": t.user_attrs.get("run_dir")})
    return rows


def write_table(rows: list[dict], output: Path) -> tuple[Path, Path]:
    """Writes the study table as CSV and JSON (atomically); returns their paths."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    csv_path, json_path = Path(output) / "study.csv", Path(output) / "study.json"
    atomic_write_text(csv_path, text.getvalue())
    atomic_write_text(json_path, json.dumps(rows, indent=2) + "\n")
    return csv_path, json_path


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def plot_trials(rows: list[dict], metric: str, path: Path) -> Path:
    """The value of each trial (pruned ones marked at their last reported value) and the best so far."""
    fig, ax = plotting.figure()
    done = [r for r in rows if r["state"] == "COMPLETE" and _finite(r["value"])]
    pruned = [r for r in rows if r["state"] == "PRUNED" and _finite(r["value"])]
    ax.plot([r["trial"] for r in done], [r["value"] for r in done], "o", color="C0", label="completed trial",
            zorder=3)
    ax.plot([r["trial"] for r in pruned], [r["value"] for r in pruned], "x", color="C3", ms=8,
            label="pruned trial (value when stopped)", zorder=3)
    best, xs, ys = -math.inf, [], []
    for r in done:
        best = max(best, r["value"])
        xs.append(r["trial"])
        ys.append(best)
    if xs:
        ax.step(xs + [max(r["trial"] for r in rows)], ys + ys[-1:], where="post", color="C2", lw=2,
                label="best so far", zorder=2)
    ax.set(xlabel="trial", ylabel=f"{metric} (search split)", title=f"Search: {metric} per trial")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    return plotting.save(fig, path)


def tune_section(rows: list[dict], metric: str, out: Path) -> Section:
    """The report section of a search: the plot and the table of trials."""
    section = Section("Search")
    if any(_finite(r["value"]) for r in rows):
        section.figure(plot_trials(rows, metric, out / "tune_trials.png"),
                       f"{metric} of each trial on the held-out part of the training data")
    else:
        section.lack("No trial has a value yet: no plot.")
    failed = [r["trial"] for r in rows if r["state"] == "FAIL"]
    if failed:
        section.note(f"Failed trials {failed}: killed while running (their settings were run again) or stopped "
                     "by an error (study.json has it).")
    shown = ("trial", "state", *SEARCHED, "value", "epochs_run", "wall_seconds")
    section.table(list(shown), [[_cell(r[k]) for k in shown] for r in rows])
    return section


def _cell(value):
    if isinstance(value, float) and abs(value) < 1e-3 and value:
        return f"{value:.3g}"  # learning rates: 3 significant digits, not 0.0000
    return value


def outcome_facts(output: Path, trials: int, metric: str, best_trial: int, search_value: float, best_params: dict,
                  final_metrics: dict, command: str) -> list[tuple[str, str]]:
    """The search's outcome as (label, text) pairs, for the report's header and the printed summary."""
    final = final_metrics.get(metric)
    return [("search folder", str(Path(output).resolve())), ("trials", str(trials)),
            ("best trial", f"{best_trial}: {metric} {search_value:.4f} on the held-out part of train"),
            ("best settings", ", ".join(f"{k}={v}" for k, v in best_params.items())),
            (f"final {metric}", f"{final:.4f} (retrained on all of train, on the dev/test split)"
             if _finite(final) else "n/a"),
            ("reproduce", command)]


def rebuild_tune_report(output) -> Path:
    """`bertkit report OUTPUT` for a search folder: the report again from `study.json` and `best.json`
    (a search still running, or killed, gets its trials so far)."""
    output = Path(output)
    settings = _read_json(output / "tune.json")
    rows = _read_json(output / "study.json")
    best = _read_json(output / BEST_FILE) if (output / BEST_FILE).exists() else None
    if best is None:
        head = [("search folder", str(output.resolve())), ("trials", str(len(rows))),
                ("best settings", "not yet: the search has not finished")]
    else:
        head = outcome_facts(output, len(rows), best["metric"], best["best_trial"], best["search_value"],
                             best["best_params"], best["final_metrics"], best["command"])
    return build_tune_report(output, rows, settings["metric"], head)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BertkitError(f"{path}: not found; is {path.parent} a `bertkit tune` folder with a finished trial?") \
            from None
    except json.JSONDecodeError as e:
        raise BertkitError(f"{path}:{e.lineno}: not valid JSON ({e.msg}).") from None


def build_tune_report(output: Path, rows: list[dict], metric: str, facts: list[tuple[str, str]]) -> Path:
    """Writes `output/report/` (index.html and the plot, replaced in one rename); returns index.html."""
    target = Path(output) / "report"
    with atomic_directory(target) as out:
        out.chmod(0o755)  # a temporary folder is private; the report is for reading
        section = tune_section(rows, metric, out)
        page = render_page(f"bertkit search report: {Path(output).resolve().name}", facts, section.missing, [section])
        (out / "index.html").write_text(page, encoding="utf-8")
    return target / "index.html"
