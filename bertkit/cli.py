"""The `bertkit` command: each sub-command parses its flags and calls one library function.

Errors in the user's input (`BertkitError`) print one message and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# bertkit.precision.POLICIES, spelled out so that parsing flags does not import TensorFlow.
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def _add_train(sub):
    p = sub.add_parser("train", help="fine-tune a pretrained encoder", description=(
        "Fine-tune a pretrained BERT encoder. Defaults follow the TF Hub tutorial: max_seq_length 128, "
        "batch 32, lr 2e-5, 3 epochs."))
    p.add_argument("--data", default="imdb", help="dataset name under $BERTKIT_DATA (imdb, sst2, ...), "
                   "a folder, or a training file (.jsonl/.csv/.tsv); test.* or dev.* beside it is used for eval")
    p.add_argument("--output", required=True, help="run folder (the model bundle goes to OUTPUT/model)")
    p.add_argument("--model", default=None, help="pretrained encoder: a HF, Google TF1 checkpoint or TF Hub SavedModel "
                   "folder, or a TF Hub handle (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--task", default="classify", help="task type: classify (default; pairs by text_b), "
                   "multilabel, regression, ner (CoNLL files), qa (SQuAD JSON)")
    p.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                   help="task setting saved with the model, e.g. doc_stride=128 (qa), threshold=0.5 (multilabel), "
                        "document_context=on (ner), symmetric=on (classify pairs); repeatable")
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
    p.add_argument("--mixed-precision", default="auto", choices=PRECISIONS)
    p.add_argument("--xla", action="store_true", help="compile the train step with XLA (jit_compile); "
                   "on the 2-core CPU measured it was ~10%% slower, so it is off by default")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--accumulation-steps", type=int, default=1,
                   help="accumulate N micro-batches of --batch-size per optimizer step (same result as one "
                        "N-times larger batch, less memory)")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="also checkpoint every N optimizer steps (always at each epoch end)")
    p.add_argument("--keep-checkpoints", type=int, default=3, help="recent checkpoints kept")
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its last checkpoint")
    p.add_argument("--patience", type=int, default=None,
                   help="early stopping: stop after N epochs without a better dev metric; keeps the best epoch")
    p.add_argument("--keep-best", action="store_true", help="the bundle gets the best epoch's weights")
    p.add_argument("--strategy", default="auto", choices=["auto", "default", "mirrored", "multi-worker", "tpu"],
                   help="tf.distribute strategy (auto: multi-worker if TF_CONFIG has a cluster, tpu if --tpu, "
                        "mirrored on several GPUs, else default)")
    p.add_argument("--tpu", default=None, help="TPU name or grpc:// address for --strategy tpu")
    p.add_argument("--no-report", action="store_true",
                   help="do not build OUTPUT/report/ at the end (needs matplotlib; `bertkit report` builds it later)")


def _add_inference_precision(p):
    p.add_argument("--mixed-precision", default="float32", choices=PRECISIONS,
                   help="compute precision of the forward pass (default float32: the same numbers as the export; "
                   "mixed_bfloat16 is ~1.5x faster on CPUs with AVX512_BF16/AMX and on recent GPUs)")


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="metrics of a trained model on labelled data")
    p.add_argument("--model", required=True, help="run folder or model bundle from `bertkit train`")
    p.add_argument("--data", required=True, help="labelled file, folder or dataset name (its test split)")
    p.add_argument("--samples", type=int, default=None, help="evaluate on N sampled examples (seeded)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--output-json", default=None, help="also write the metrics to this JSON file")
    _add_inference_precision(p)


def _add_predict(sub):
    p = sub.add_parser("predict", help="predict labels for texts")
    p.add_argument("--model", required=True, help="run folder or model bundle from `bertkit train`")
    p.add_argument("texts", nargs="*", help="texts to classify (or, for ner, to tag)")
    p.add_argument("--input", default=None, help="file of inputs (.jsonl/.csv/.tsv, or .txt: one text per line; "
                   "ner: also CoNLL files; qa: SQuAD .json or .jsonl rows with question and context)")
    p.add_argument("--question", default=None, help="qa: the question (with --context)")
    p.add_argument("--context", default=None, help="qa: the passage to answer from (with --question)")
    p.add_argument("--batch-size", type=int, default=64)
    _add_inference_precision(p)


def _add_export(sub):
    p = sub.add_parser("export", help="write a SavedModel that takes raw text (for TF Serving / `bertkit serve`)")
    p.add_argument("--model", required=True, help="run folder or model bundle from `bertkit train`")
    p.add_argument("--output", required=True, help="SavedModel folder to write (an earlier export there is replaced)")
    p.add_argument("--no-verify", action="store_true", help="skip reloading the export to check its predictions")


def _add_serve(sub):
    from bertkit.serving.rest import Limits

    p = sub.add_parser("serve", help="serve a model over the TF Serving REST API, with a page at /")
    p.add_argument("--model", required=True, help="folder from `bertkit export` (or a run folder: exported first)")
    p.add_argument("--name", default="default", help="model name in the URLs /v1/models/NAME (default: default)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501, as TF Serving's REST; 0: any free)")
    p.add_argument("--max-batch-size", type=int, default=64, help="instances per model call (default 64)")
    p.add_argument("--batch-timeout-ms", type=float, default=5.0,
                   help="how long a request waits to be batched with others (default 5)")
    p.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes, help="larger request bodies get 400")
    p.add_argument("--max-instances", type=int, default=Limits.max_instances, help="more instances per request get 400")
    p.add_argument("--max-text-bytes", type=int, default=Limits.max_text_bytes, help="longer texts get 400")


def _add_report(sub):
    p = sub.add_parser("report", help="plots and error analysis of a run, as RUN_DIR/report/index.html")
    p.add_argument("run_dir", help="the --output folder of `bertkit train`")
    p.add_argument("--data", default=None, help="labelled file, folder or dataset name to analyse "
                   "(default: the run's final evaluation predictions)")
    p.add_argument("--max-examples", type=int, default=None,
                   help="run the model on at most N examples, a seeded sample (default 2000)")


def _add_export_encoder(sub):
    p = sub.add_parser("export-encoder", help="write an encoder as a TF Hub SavedModel, HF or TF1 folder",
                       description="Export the encoder of a pretrained folder (any format bertkit reads, or a "
                       "TF Hub handle) or of a bertkit run/model folder (its fine-tuned encoder).")
    p.add_argument("--model", required=True, help="pretrained encoder folder, TF Hub handle, or bertkit run folder")
    p.add_argument("--format", required=True, choices=["tfhub", "hf", "tf1"],
                   help="tfhub: TF Hub BERT SavedModel (hub.KerasLayer); hf: config.json + model.safetensors; "
                        "tf1: Google's bert_config.json + bert_model.ckpt")
    p.add_argument("--output", required=True, help="folder to write (replaced atomically)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertkit", description="Fine-tune BERT encoders with TF 2 + Keras 3.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_report(sub)
    _add_export(sub)
    _add_serve(sub)
    _add_export_encoder(sub)
    return parser


def _task_options(pairs) -> dict:
    from bertkit.errors import BertkitError

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BertkitError(f"--task-option {pair!r}: expected KEY=VALUE, e.g. doc_stride=128.")
        options[key.strip()] = value.strip()
    return options


def cmd_train(args) -> int:
    from bertkit.api import train
    from bertkit.report.summary import finish_run

    result = train(data=args.data, output=args.output, model=args.model, task=args.task,
                   max_seq_length=args.max_seq_length, batch_size=args.batch_size, epochs=args.epochs,
                   learning_rate=args.learning_rate, train_samples=args.train_samples,
                   test_samples=args.test_samples, seed=args.seed, truncation=args.truncation,
                   pooling=args.pooling, mixed_precision=args.mixed_precision, verbose=not args.quiet,
                   task_options=_task_options(args.task_option), accumulation_steps=args.accumulation_steps,
                   checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints,
                   resume=args.resume, patience=args.patience, keep_best=args.keep_best, strategy=args.strategy,
                   tpu=args.tpu, jit_compile=args.xla)
    print(finish_run(result, build=not args.no_report))
    return 0


def cmd_evaluate(args) -> int:
    from bertkit.api import load
    from bertkit.io_utils import atomic_write_text
    from bertkit.metrics import format_metrics_table

    model = load(args.model, args.mixed_precision)
    metrics = model.evaluate(args.data, batch_size=args.batch_size, samples=args.samples)
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

    model = load(args.model, args.mixed_precision)
    inputs = list(args.texts)
    if (args.question is None) != (args.context is None):
        raise BertkitError("predict: --question and --context go together.")
    if args.question is not None:
        inputs.append((args.question, args.context))
    if args.input:
        own = model.task.read_predict_inputs(args.input)  # the task's own format (qa: SQuAD / JSONL)
        inputs += own if own is not None else _read_predict_inputs(args.input)
    if not inputs:
        raise BertkitError("predict: give texts as arguments, a file with --input, or --question/--context.")
    for row in model.predict(inputs, batch_size=args.batch_size):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_export(args) -> int:
    from bertkit.serving.export import export_model

    path = export_model(args.model, args.output, verify=not args.no_verify)
    print(f"exported {args.model} to {path} (signature serving_default: raw text in, probabilities and label out)")
    return 0


def cmd_serve(args) -> int:
    from bertkit.serving.server import ServeConfig, serve

    serve(args.model, ServeConfig(name=args.name, host=args.host, port=args.port,
                                  max_batch_size=args.max_batch_size, batch_timeout_ms=args.batch_timeout_ms,
                                  max_body_bytes=args.max_body_bytes, max_instances=args.max_instances,
                                  max_text_bytes=args.max_text_bytes))
    return 0


def cmd_report(args) -> int:
    from bertkit.report import MAX_EXAMPLES, build_report

    index = build_report(args.run_dir, data=args.data, max_examples=args.max_examples or MAX_EXAMPLES)
    for line in json.loads((index.parent / "summary.json").read_text())["missing"]:
        print(f"missing: {line}", file=sys.stderr)
    print(f"report written to {index}")
    return 0


def cmd_export_encoder(args) -> int:
    from bertkit.export import export_encoder

    out = export_encoder(args.model, args.format, args.output)
    print(f"wrote the {args.format} encoder of {args.model} to {out}")
    return 0


COMMANDS = {"report": cmd_report, "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "export": cmd_export,
            "serve": cmd_serve, "export-encoder": cmd_export_encoder}


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
