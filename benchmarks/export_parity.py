"""A fine-tuned run folder against its raw-text SavedModel export, on real data.

Exports RUN (a folder from `bertkit train`), loads the export with plain `tf.saved_model.load`, runs
the same real inputs through it and through `BertkitModel.predict`, and counts disagreements:

* qa: held-out SQuAD questions (`squad/dev-v1.1.json`, bertkit's article split); also the official
  EM / F1 of both;
* ner: `conll2003/eng.testb` sentences;
* classify / multilabel / regression: IMDB test reviews (or the run's own test file).

Every published output is compared (`export.savedmodel.largest_difference`): texts and offsets equal,
numbers within 1e-5 (relative to their size above 1).

    python benchmarks/export_parity.py --run RUN [--n 300]

Writes benchmarks/results/export_parity-<task>.json: counts, largest differences, wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import versions, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.setdefault("BERTKIT_DATA", str(REPO.parent / "shared" / "data")))


def qa_inputs(n: int):
    from bertkit.data.squad import read_squad, split_by_article

    _, held_out, _ = split_by_article(read_squad(DATA / "squad" / "dev-v1.1.json"))
    return held_out[:n]


def ner_inputs(n: int):
    from bertkit.data.conll import read_conll

    return [" ".join(s.words) for s in read_conll(DATA / "conll2003" / "eng.testb")[:n]]


def text_inputs(n: int):
    with open(DATA / "imdb" / "test.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f)]


def compare(task: str, model, fn, inputs) -> dict:
    """Every published output of the export against `predict`'s, per input: how many differ (strings or
    offsets not equal, or numbers beyond 1e-5 relative), and the largest difference among the others."""
    import tensorflow as tf

    from bertkit.export.savedmodel import largest_difference

    signature = model.task.serving_signature()
    t = time.perf_counter()
    if task == "qa":
        out = fn(question=tf.constant([e.question for e in inputs]), context=tf.constant([e.context for e in inputs]))
    else:
        out = fn(text=tf.constant(inputs))
    out = {k: v.numpy() for k, v in out.items()}
    export_seconds = time.perf_counter() - t
    t = time.perf_counter()
    want = model.predictions(inputs)
    predict_seconds = time.perf_counter() - t
    diffs = [largest_difference({k: v[i:i + 1] for k, v in out.items()}, {k: want[k][i:i + 1] for k in want}, signature)
             for i in range(len(inputs))]
    facts = {"n": len(inputs), "export_seconds": round(export_seconds, 2), "predict_seconds": round(predict_seconds, 2),
             "inputs_differing": sum(d > 1e-5 for d in diffs),
             "max_difference_of_the_others": max((d for d in diffs if d <= 1e-5), default=0.0)}
    if task == "qa":
        from bertkit.tasks.qa.metrics import squad_metrics

        gold = [[text for text, _ in e.answers] for e in inputs]
        facts.update(n_best_answers=int(sum(len(w) for w in want["n_best_text"])),
                     predict_metrics=squad_metrics(gold, list(want["answer"])),
                     export_metrics=squad_metrics(gold, [a.decode("utf-8") for a in out["answer"]]))
    elif task == "ner":
        facts.update(entities=int(sum(len(e) for e in want["entity_text"])))
    return facts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run folder (or bundle) from bertkit train")
    parser.add_argument("--n", type=int, default=300, help="inputs compared")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    import tensorflow as tf

    import bertkit
    from bertkit.export.savedmodel import SIGNATURE, export_model

    model = bertkit.load(args.run)
    task = model.task_config.task
    inputs = {"qa": qa_inputs, "ner": ner_inputs}.get(task, text_inputs)(args.n)
    with tempfile.TemporaryDirectory(prefix="bertkit-parity-") as tmp:
        t = time.perf_counter()
        export_model(model, Path(tmp) / "export")
        export_build = time.perf_counter() - t
        fn = tf.saved_model.load(str(Path(tmp) / "export")).signatures[SIGNATURE]
        fn(**{name: tf.constant(["warm up"]) for name in ("question", "context")} if task == "qa"
           else {"text": tf.constant(["warm up"])})
        facts = compare(task, model, fn, inputs)
    result = {"benchmark": f"export_parity-{task}", "run": str(args.run), "task": task,
              "export_build_seconds": round(export_build, 1), **facts, "versions": versions()}
    print(json.dumps(result, indent=2, default=str))
    write_result(args.output or f"export_parity-{task}", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
