"""The predictions a report analyses: saved by `bertkit.train` at its final evaluation, or computed.

`bertkit.train` writes `RUN/predictions_eval.npz` (scores `[N, ...]`, gold `[N]`, guids `[N]`) after
its last evaluation, so the report needs no second pass of the model over the test split. The texts
are not copied: they are read back from the test file recorded in the history and matched by guid
(`<file>:<line>`).

With `--data FILE`, or when the run saved no predictions, the model is loaded and run on at most
`max_examples` examples (a seeded sample, so the same report comes out twice).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bertkit.data import Example, read_examples, resolve_data, sample_examples
from bertkit.errors import BertkitError

PREDICTIONS_FILE = "predictions_eval.npz"
MAX_EXAMPLES = 2000  # cap on examples the report runs the model on (CPU: a few seconds with MiniLM)
SAMPLE_SEED = 42


@dataclass
class EvalData:
    """The labelled examples and the model's scores on them.

    Attributes:
        examples: one Example (or None where its text could not be found) per row of `scores`.
        guids: the id of each row (`<file>:<line>`).
        scores: the task's scores (class probabilities `[N, K]` for classification).
        gold: gold label ids `[N]`, or None for unlabelled data.
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


def _read_data(spec) -> tuple[list[Example], str]:
    """Examples of a file / split folder, or the test (else dev) split of a folder or dataset name."""
    path = Path(spec)
    if not path.exists() or (path.is_dir() and not (path / "pos").is_dir()):
        split = resolve_data(str(spec), "test")
        if split is None:
            raise BertkitError(f"{spec}: no test or dev split found for the report; pass a file with --data.")
        path = split
    return read_examples(path), str(path)


def _read_with(model, spec) -> tuple[list, str]:
    """The task's own reader when it has one (CoNLL, SQuAD, ...), else the generic text readers."""
    if hasattr(model.task, "read_eval_data"):
        return model.task.read_eval_data(spec, None, SAMPLE_SEED)
    return _read_data(spec)


def _labelled(example) -> bool:
    """Whether an example carries its gold answer: a label (text tasks), tags (NER) or answers (QA)."""
    if hasattr(example, "tags"):
        return example.tags is not None
    if hasattr(example, "answers"):
        return bool(example.answers)
    return getattr(example, "label", None) is not None


def predict_data(bundle: Path, spec, max_examples: int = MAX_EXAMPLES, only: list[str] | None = None) -> EvalData:
    """Runs the model of `bundle` on (a seeded sample of) the data `spec`.

    Args:
        bundle: the model bundle folder.
        spec: labelled file, folder or dataset name.
        max_examples: most examples to run the model on.
        only: keep just the examples with these guids (the run's own evaluation set), if given.
    """
    from bertkit.api import load  # TensorFlow model: only when the report must predict

    model = load(bundle)
    examples, source = _read_with(model, spec)
    if only is not None:
        wanted = set(only)
        examples = [e for e in examples if str(e.guid) in wanted]
        source += " (the run's evaluation examples)"
    total = len(examples)
    examples = sample_examples(examples, max_examples, SAMPLE_SEED)
    if all(_labelled(e) for e in examples):
        ds = model.task.make_dataset(examples, 64, training=False, source=source)
        scores, gold = model.task.predict_outputs(model.model, ds)  # the same pass as `evaluate`
    else:
        scores, gold = model.predict_scores(examples), None
    data = EvalData(examples, [str(e.guid) for e in examples], scores, gold, source, total)
    if len(examples) < total:
        data.notes.append(f"Predictions on {len(examples):,} of the {total:,} examples (seeded sample, "
                          f"seed {SAMPLE_SEED}; change with --max-examples).")
    if gold is None:
        data.missing.append(f"{source} has no labels: no metrics or error analysis, token lengths only.")
    return data


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
