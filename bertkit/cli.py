"""The `bertkit` command: each sub-command parses its flags and calls one library function.

Errors in the user's input (`BertkitError`) print one message and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _add_train(sub):
    p = sub.add_parser("train", help="fine-tune a pretrained encoder", description=(
        "Fine-tune a pretrained BERT encoder. Defaults follow the TF Hub tutorial: max_seq_length 128, "
        "batch 32, lr 2e-5, 3 epochs."))
    p.add_argument("--data", default="imdb", help="dataset name under $BERTKIT_DATA (imdb, sst2, ...), "
                   "a folder, or a training file (.jsonl/.csv/.tsv); test.* or dev.* beside it is used for eval")
    p.add_argument("--output", required=True, help="run folder (the model bundle goes to OUTPUT/model)")
    p.add_argument("--model", default=None, help="pretrained encoder folder (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--task", default="classify", help="task type (default: classify)")
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=2e-5)
    p.add_argument("--train-samples", type=int, default=None, help="sample N training examples (seeded)")
    p.add_argument("--test-samples", type=int, default=None, help="sample N test examples (seeded)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--truncation", default="head+tail", choices=["head", "tail", "head+tail"])
    p.add_argument("--pooling", default=None, choices=["cls", "mean"],
                   help="head input: cls = pooled_output, mean = masked mean of sequence_output "
                        "(default: what the pretrained model was trained with)")
    p.add_argument("--mixed-precision", default="auto",
                   choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="metrics of a trained model on labelled data")
    p.add_argument("--model", required=True, help="run folder or model bundle from `bertkit train`")
    p.add_argument("--data", required=True, help="labelled file, folder or dataset name (its test split)")
    p.add_argument("--samples", type=int, default=None, help="evaluate on N sampled examples (seeded)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--output-json", default=None, help="also write the metrics to this JSON file")


def _add_predict(sub):
    p = sub.add_parser("predict", help="predict labels for texts")
    p.add_argument("--model", required=True, help="run folder or model bundle from `bertkit train`")
    p.add_argument("texts", nargs="*", help="texts to classify")
    p.add_argument("--input", default=None, help="file of inputs (.jsonl/.csv/.tsv, or .txt: one text per line)")
    p.add_argument("--batch-size", type=int, default=64)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertkit", description="Fine-tune BERT encoders with TF 2 + Keras 3.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    return parser


def cmd_train(args) -> int:
    from bertkit.api import train
    from bertkit.metrics import format_metrics_table

    result = train(data=args.data, output=args.output, model=args.model, task=args.task,
                   max_seq_length=args.max_seq_length, batch_size=args.batch_size, epochs=args.epochs,
                   learning_rate=args.learning_rate, train_samples=args.train_samples,
                   test_samples=args.test_samples, seed=args.seed, truncation=args.truncation,
                   pooling=args.pooling, mixed_precision=args.mixed_precision, verbose=not args.quiet)
    if result.metrics:
        print(format_metrics_table(result.metrics))
    stats = result.stats
    print(f"trained {stats['train_examples']} examples in {stats['train_seconds']:.1f} s "
          f"({stats['examples_per_second']:.1f} examples/s); model saved to {result.model.path}")
    return 0


def cmd_evaluate(args) -> int:
    from bertkit.api import load
    from bertkit.io_utils import atomic_write_text
    from bertkit.metrics import format_metrics_table

    metrics = load(args.model).evaluate(args.data, batch_size=args.batch_size, samples=args.samples)
    print(format_metrics_table(metrics))
    if args.output_json:
        atomic_write_text(args.output_json, json.dumps(metrics, indent=2, default=str) + "\n")
    return 0


def _read_predict_inputs(path: str):
    from bertkit.data import Example, read_examples
    from bertkit.errors import BertkitError

    p = Path(path)
    if p.suffix == ".txt":
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise BertkitError(f"{p}: file not found.") from None
        except UnicodeDecodeError as e:
            raise BertkitError(f"{p}: not UTF-8 (byte {e.start}); re-encode the file as UTF-8.") from None
        return [Example(text_a=line, guid=f"{p}:{i}") for i, line in enumerate(lines, 1) if line.strip()]
    return read_examples(p)


def cmd_predict(args) -> int:
    from bertkit.api import load
    from bertkit.errors import BertkitError

    inputs = list(args.texts)
    if args.input:
        inputs += _read_predict_inputs(args.input)
    if not inputs:
        raise BertkitError("predict: give texts as arguments or a file with --input.")
    model = load(args.model)
    for row in model.predict(inputs, batch_size=args.batch_size):
        print(json.dumps(row, ensure_ascii=False))
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from bertkit import __version__

        print(f"bertkit {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out
    from bertkit.errors import BertkitError

    try:
        return COMMANDS[args.command](args)
    except BertkitError as e:
        print(f"bertkit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bertkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
