"""A fine-tuned run folder against its raw-text SavedModel export, on real data.

Exports RUN (a folder from `bertkit train`), loads the export with plain `tf.saved_model.load`, runs
the same real inputs through it and through `BertkitModel.predict`, and counts disagreements:

* qa: held-out SQuAD questions (`squad/dev-v1.1.json`, bertkit's article split); the answer text and
  offsets must be equal for every question, and every n-best answer within 1e-5 in probability and
  in score relative to its size (`export_qa.compare_answers`); also the official EM / F1 of both;
* ner: `conll2003/eng.testb` sentences; entities (text, type, offsets) equal, tag probabilities;
* classify / multilabel / regression: IMDB test reviews (or the run's own test file); scores.

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

import numpy as np

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
    import tensorflow as tf

    t = time.perf_counter()
    if task == "qa":
        out = fn(question=tf.constant([e.question for e in inputs]), context=tf.constant([e.context for e in inputs]))
    else:
        out = fn(text=tf.constant(inputs))
    out = {k: v.numpy() for k, v in out.items()}
    export_seconds = time.perf_counter() - t
    t = time.perf_counter()
    want = model.predict_scores(inputs)
    predict_seconds = time.perf_counter() - t
    facts = {"n": len(inputs), "export_seconds": round(export_seconds, 2), "predict_seconds": round(predict_seconds, 2)}
    if task == "qa":
        from bertkit.serving.export_qa import compare_answers
        from bertkit.tasks.squad_metrics import squad_metrics

        diffs = [compare_answers({k: v[i:i + 1] for k, v in out.items()}, [want[i]]) for i in range(len(inputs))]
        differ = [d for d in diffs if d > 1e-5]
        worst = max((d for d in diffs if d <= 1e-5), default=0.0)
        gold = [[text for text, _ in e.answers] for e in inputs]
        facts.update(questions_differing=len(differ), max_relative_score_or_probability_diff=worst,
                     n_best_answers=int(sum(len(w) for w in want)),
                     predict_metrics=squad_metrics(gold, [w[0]["text"] for w in want]),
                     export_metrics=squad_metrics(gold, [a.decode("utf-8") for a in out["answer"]]))
    elif task == "ner":
        rows = model.predict(inputs)
        differ, worst, n_entities = 0, 0.0, 0
        for i, (row, scores) in enumerate(zip(rows, want)):
            k = int((out["entity_start"][i] >= 0).sum())
            got = [(out["entity_text"][i][j].decode("utf-8"), out["entity_type"][i][j].decode(),
                    int(out["entity_start"][i][j]), int(out["entity_end"][i][j])) for j in range(k)]
            n_entities += len(row["entities"])
            differ += got != [(e["text"], e["type"], e["start"], e["end"]) for e in row["entities"]]
            worst = max(worst, float(np.max(np.abs(out["tag_probabilities"][i][:len(scores)] - scores), initial=0.0)))
        facts.update(sentences_differing=differ, entities=n_entities, max_probability_diff=worst)
    else:
        name = {"regression": "score"}.get(task, "probabilities")
        facts.update(max_score_diff=float(np.max(np.abs(out[name] - want))))
    return facts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run folder (or bundle) from bertkit train")
    parser.add_argument("--n", type=int, default=300, help="inputs compared")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    import tensorflow as tf

    import bertkit
    from bertkit.serving.export import SIGNATURE, export_model

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
