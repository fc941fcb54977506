"""The predictions a report analyses, as `bertkit.train` saves them at its final evaluation.

`bertkit.train` writes `RUN/predictions_eval.npz` (scores `[N, ...]`, gold `[N]`, guids `[N]`) after
its last evaluation, so the report needs no second pass of the model over the test split. The texts
are not copied: they are read back from the test file recorded in the history and matched by guid
(`<file>:<line>`). With `--data FILE`, or when the run saved no scores, the model is run again
(`bertkit.report.rerun`).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bertkit.data import Example, read_examples
from bertkit.core.errors import BertkitError

PREDICTIONS_FILE = "predictions_eval.npz"
MAX_EXAMPLES = 2000  # cap on examples the report runs the model on (CPU: a few seconds with MiniLM)
SAMPLE_SEED = 42


@dataclass
class EvalData:
    """The labelled examples and the model's scores on them.

    Attributes:
        examples: one Example (or None where its text could not be found) per row of `scores`.
        guids: the id of each row (`<file>:<line>`).
        scores: the task's scores (`Task.scores`: class probabilities `[N, K]` for classification).
        gold: the task's gold answers (`Task.gold`: label ids `[N]` for classification), or None for
            unlabelled data.
        source: where the examples and scores came from, for the report.
        total: how many examples the source had before sampling.
        notes: how the examples were chosen.
        missing: what could not be used.
    """

    examples: list[Example | None]
    guids: list[str]
    scores: np.ndarray | None
    gold: np.ndarray | None
    source: str
    total: int = 0
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    predictions: dict | None = None  # the task's decoded answers, when the model was run


def save_eval_predictions(run_dir, scores, gold, guids) -> bool:
    """Writes `RUN/predictions_eval.npz` atomically: the evaluated examples' guids, and their scores and
    gold labels when those are plain numeric arrays with one row per example (classification).

    Returns:
        True when the scores were saved; False when only the guids were (NER, QA: the report then
        re-runs the model on exactly these examples).
    """
    arrays = {"guids": np.asarray([str(g) for g in guids])}
    numeric = all(isinstance(a, np.ndarray) and a.dtype.kind in "biuf" and len(a) == len(guids) for a in (scores, gold))
    if numeric:
        arrays.update(scores=scores, gold=gold)
    run_dir = Path(run_dir)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f".{PREDICTIONS_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, run_dir / PREDICTIONS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return numeric


def load_saved(run_dir: Path, test_file: str | None) -> EvalData | None:
    """The predictions `bertkit.train` saved, with their texts when the test file is still there."""
    path = run_dir / PREDICTIONS_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            guids = [str(g) for g in z["guids"]]
            scores, gold = (z["scores"], z["gold"]) if "scores" in z.files else (None, None)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        return EvalData([], [], None, None, str(path), missing=[f"{path.name} cannot be read ({e}); it was ignored."])
    if scores is None:  # guids only: the task's outputs are not arrays
        return EvalData([], guids, None, None, str(path), len(guids))
    data = EvalData([None] * len(guids), guids, scores, gold,
                    f"{test_file or 'the evaluation split'} (predictions saved by bertkit train)", len(guids))
    if not test_file or not Path(test_file).exists():
        data.missing.append(f"The test file {test_file or '(not recorded in the history)'} is not available: "
                          "the error tables show example ids instead of texts, and there are no token lengths.")
        return data
    try:
        by_guid = {e.guid: e for e in read_examples(test_file)}
    except BertkitError as e:
        data.missing.append(f"The test file cannot be read back ({e}): the error tables show example ids "
                            "instead of texts, and there are no token lengths.")
        return data
    data.examples = [by_guid.get(g) for g in guids]
    lost = sum(e is None for e in data.examples)
    if lost:
        data.missing.append(f"{lost:,} of the {len(guids):,} saved predictions have no matching row in {test_file} "
                          "(the file changed after training?): their ids are shown instead of texts.")
    return data
