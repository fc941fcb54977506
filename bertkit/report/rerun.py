"""Predictions computed for a report: the run's model loaded and run on (a seeded sample of) labelled data,
when `--data` is given or the run saved no scores (NER and QA save only the evaluated examples' ids)."""

from __future__ import annotations

from pathlib import Path

from bertkit.core.errors import BertkitError
from bertkit.data import Example, read_examples, resolve_data, sample_examples
from bertkit.report.predictions import MAX_EXAMPLES, SAMPLE_SEED, EvalData


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
    gold = model.task.gold(examples) if all(_labelled(e) for e in examples) else None
    predictions = model.runner.predict(examples)  # the same pass as `evaluate`
    data = EvalData(examples, [str(e.guid) for e in examples], model.task.scores(predictions), gold, source, total,
                    predictions=predictions)
    if len(examples) < total:
        data.notes.append(f"Predictions on {len(examples):,} of the {total:,} examples (seeded sample, "
                          f"seed {SAMPLE_SEED}; change with --max-examples).")
    if gold is None:
        data.missing.append(f"{source} has no labels: no metrics or error analysis, token lengths only.")
    return data
