"""The `bertkit` command: each sub-command parses its flags and calls one library function.

Option flags are generated from the config fields that declare them (`bertkit.core.config.option`), so a
flag, its default, its check and its help exist once. Errors in the user's input (`BertkitError`) print
one message and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path

from bertkit.core.config import InferenceConfig, PreprocessConfig, TaskConfig, TrainConfig, flag_of
from bertkit.core.errors import BertkitError
from bertkit.core.quiet import import_tensorflow
from bertkit.export.encoder import EXPORT_FORMATS

TRAIN_CONFIGS = (TrainConfig, PreprocessConfig, TaskConfig)


def add_options(parser, config_cls, defaults: dict | None = None, exclude: tuple = ()) -> None:
    """Adds a flag for every option field of `config_cls` (type, default, choices and help from the field),
    except the fields named in `exclude`."""
    hints = typing.get_type_hints(config_cls)
    for f in config_cls.flags():
        if f.name in exclude:
            continue
        meta, kind = f.metadata, hints[f.name]
        default = (defaults or {}).get(f.name, None if meta.get("unset") else f.default)
        help_text = meta["help"] + (f" (default: {meta['unset']})" if meta.get("unset") else "")
        if kind is bool:
            parser.add_argument(flag_of(f), dest=f.name, action="store_true", default=default, help=help_text)
            continue
        arg_type = next(t for t in (int, float, str) if t == kind or t in typing.get_args(kind))
        if not meta.get("unset") and meta.get("choices") is None:
            help_text += " (default: %(default)s)"
        parser.add_argument(flag_of(f), dest=f.name, type=arg_type, default=default, choices=meta.get("choices"),
                            metavar=None if meta.get("choices") else f.name.upper(), help=help_text)


def options_of(args, config_cls) -> dict:
    """The parsed values of `config_cls`'s option flags (None: not given, where the default is "unset")."""
    return {f.name: getattr(args, f.name) for f in config_cls.flags() if hasattr(args, f.name)}


def _add_train(sub):
    p = sub.add_parser("train", help="fine-tune a pretrained encoder", description=(
        "Fine-tune a pretrained encoder. Defaults follow the TF Hub tutorial: max_seq_length 128, "
        "batch 32, lr 2e-5, 3 epochs."))
    _add_run_inputs(p, "run folder (the model bundle goes to OUTPUT/model)", "")
    for config in TRAIN_CONFIGS:
        add_options(p, config)
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true",
                   help="do not build OUTPUT/report/ at the end (needs matplotlib; `bertkit report` builds it later)")


def _add_tune(sub):
    from bertkit.tuning.space import SEARCHED, SearchSpace, TuneConfig

    p = sub.add_parser("tune", help="search fine-tuning settings (Optuna), then retrain the best", description=(
        "Search learning rate, epochs, batch size, warm-up, pooling and head dropout with Optuna (TPE seeded by "
        "--seed, median pruning after each epoch). Trials train on part of the training data and are scored on "
        "the rest (--search-fraction); the best settings are then retrained on all of it into OUTPUT/best and "
        "evaluated once on the dev/test split. Needs the tune extra: pip install 'bertkit[tune]'."))
    _add_run_inputs(p, "search folder: tune.db, trial-NNN/, best/, study.csv, report/",
                    "; the search needs a dev or test split for its final evaluation")
    add_options(p, TuneConfig)
    add_options(p, SearchSpace)
    for config in TRAIN_CONFIGS:
        add_options(p, config, exclude=SEARCHED)  # the search sets these; their ranges are the flags above
    p.add_argument("--resume", action="store_true", help="continue the search in --output (a trial that was "
                   "running when it was killed is run again)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (one line per trial is still printed)")
    p.add_argument("--no-report", action="store_true", help="no run report per trial and no search report")


def _add_run_inputs(p, output_help: str, data_note: str) -> None:
    """The flags `train` and `tune` share: what to train on, where, from which encoder, for which task."""
    p.add_argument("--data", default="imdb", help="dataset name under $BERTKIT_DATA (imdb, sst2, ...), a folder, or "
                   f"a training file (.jsonl/.csv/.tsv); test.* or dev.* beside it is used for eval{data_note}")
    p.add_argument("--output", required=True, help=output_help)
    _add_model(p)
    p.add_argument("--task", default="classify", help="task type: classify (default; pairs by text_b), "
                   "multilabel, regression, ner (CoNLL files), qa (SQuAD JSON)")
    p.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                   help=f"task setting saved with the model (repeatable): {_task_options_help()}")


def _add_model(p, what: str = "pretrained encoder") -> None:
    p.add_argument("--model", default=None, help=f"{what}: a Hugging Face, Google TF1 checkpoint or TF Hub "
                   "SavedModel folder, or a TF Hub handle (default: the packaged all-MiniLM-L6-v2)")


def _task_options_help() -> str:
    """Every task's options, for `bertkit train --help` (which alone pays for importing the tasks)."""
    if not {"-h", "--help"} & set(sys.argv[1:]):
        return "e.g. doc_stride=128 (qa); `bertkit train --help` lists them all"
    import_tensorflow("--verbose" in sys.argv)  # the tasks import TensorFlow: keep its notices off --help too
    from bertkit.tasks import TASKS

    return "; ".join(f"{name}: {o.name} ({o.help}; default {o.default})" for name, task in TASKS.items()
                     for o in task.options)


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="metrics of a trained model on labelled data")
    p.add_argument("--model", required=True, help="run folder or model bundle from `bertkit train`")
    p.add_argument("--data", required=True, help="labelled file, folder or dataset name (its test split)")
    p.add_argument("--samples", type=int, default=None, help="evaluate on N sampled examples (seeded)")
    p.add_argument("--output-json", default=None, help="also write the metrics to this JSON file")
    add_options(p, InferenceConfig)


def _add_predict(sub):
    p = sub.add_parser("predict", help="predict labels for texts")
    p.add_argument("--model", required=True, help="run folder or model bundle from `bertkit train`")
    p.add_argument("texts", nargs="*", help="texts to classify (or, for ner, to tag)")
    p.add_argument("--input", default=None, help="file of inputs (.jsonl/.csv/.tsv, or .txt: one text per line, "
                   "blank lines predicted as empty texts so output line N answers input line N; "
                   "ner: also CoNLL files; qa: SQuAD .json or .jsonl rows with question and context)")
    p.add_argument("--question", default=None, help="qa: the question (with --context)")
    p.add_argument("--context", default=None, help="qa: the passage to answer from (with --question)")
    add_options(p, InferenceConfig)


def _add_export(sub):
    from bertkit.export.config import ExportConfig

    p = sub.add_parser("export", help="write a model that takes raw text: a SavedModel (TF Serving, `bertkit serve`) "
                       "or a LiteRT .tflite")
    p.add_argument("--model", required=True, help="run folder or model bundle from `bertkit train`")
    p.add_argument("--output", required=True, help="SavedModel folder, or with --format litert the .tflite file, "
                   "to write (an earlier export there is replaced)")
    add_options(p, ExportConfig)
    p.add_argument("--no-verify", action="store_true", help="skip reloading the export to check its predictions")


def _add_serve(sub):
    from bertkit.serving.config import ServeConfig

    p = sub.add_parser("serve", help="serve a model over the TF Serving REST API, with a page at /")
    p.add_argument("--model", required=True, help="folder from `bertkit export`, a .tflite from `bertkit export "
                   "--format litert`, or a run folder (exported first)")
    add_options(p, ServeConfig)


def _add_report(sub):
    p = sub.add_parser("report", help="plots and error analysis of a run, as RUN_DIR/report/index.html")
    p.add_argument("run_dir", help="the --output folder of `bertkit train` (or of `bertkit tune`: its search report)")
    p.add_argument("--data", default=None, help="labelled file, folder or dataset name to analyse "
                   "(default: the run's final evaluation predictions)")
    p.add_argument("--max-examples", type=int, default=None,
                   help="run the model on at most N examples, a seeded sample (default 2000)")


def _add_export_encoder(sub):
    p = sub.add_parser("export-encoder", help="write an encoder as a TF Hub SavedModel, HF or TF1 folder",
                       description="Export the encoder of a pretrained folder (any format bertkit reads, or a "
                       "TF Hub handle) or of a bertkit run/model folder (its fine-tuned encoder).")
    _add_model(p, "the encoder to export: a pretrained folder, TF Hub handle, or bertkit run folder")
    p.add_argument("--format", required=True, choices=list(EXPORT_FORMATS),
                   help="tfhub: TF Hub BERT SavedModel (hub.KerasLayer); hf: config.json + model.safetensors; "
                        "tf1: Google's bert_config.json + bert_model.ckpt")
    p.add_argument("--output", required=True, help="folder to write (replaced atomically)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertkit", description="Fine-tune BERT encoders with TF 2 + Keras 3.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    for add in (_add_train, _add_tune, _add_evaluate, _add_predict, _add_report, _add_export, _add_serve, _add_export_encoder):
        add(sub)
    for command in sub.choices.values():
        command.add_argument("--verbose", action="store_true",
                             help="also show TensorFlow's start-up notices and warnings (or set BERTKIT_VERBOSE=1)")
    return parser


def _task_options(pairs) -> dict:
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

    options = {k: v for config in TRAIN_CONFIGS for k, v in options_of(args, config).items() if v is not None}
    result = train(data=args.data, output=args.output, model=args.model, task=args.task,
                   task_options=_task_options(args.task_option), resume=args.resume, verbose=not args.quiet,
                   **options)
    print(finish_run(result, build=not args.no_report))
    return 0


def cmd_tune(args) -> int:
    from bertkit.tuning import summary, tune
    from bertkit.tuning.space import SearchSpace, TuneConfig

    options = {k: v for config in (*TRAIN_CONFIGS, SearchSpace, TuneConfig)
               for k, v in options_of(args, config).items() if v is not None}
    result = tune(data=args.data, output=args.output, model=args.model, task=args.task,
                  task_options=_task_options(args.task_option), resume=args.resume, verbose=not args.quiet,
                  report=not args.no_report, **options)
    print(summary(result))
    return 0


def cmd_evaluate(args) -> int:
    from bertkit.api import load
    from bertkit.core.io import atomic_write_text
    from bertkit.metrics import format_metrics_table

    inference = InferenceConfig(**options_of(args, InferenceConfig))
    model = load(args.model, inference.mixed_precision)
    metrics = model.evaluate(args.data, batch_size=inference.batch_size, samples=args.samples)
    print(format_metrics_table(metrics))
    if args.output_json:
        atomic_write_text(args.output_json, json.dumps(metrics, indent=2, default=str) + "\n")
    return 0


def _read_predict_inputs(path: str):
    from bertkit.data import Example, read_examples

    p = Path(path)
    if p.suffix == ".txt":
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise BertkitError(f"{p}: file not found.") from None
        except UnicodeDecodeError as e:
            raise BertkitError(f"{p}: not UTF-8 (byte {e.start}); re-encode the file as UTF-8.") from None
        # Every line is an input, blank ones too (an empty text): output line N answers input line N.
        return [Example(text_a=line, guid=f"{p}:{i}") for i, line in enumerate(lines, 1)]
    return read_examples(p)


def cmd_predict(args) -> int:
    from bertkit.api import load

    inference = InferenceConfig(**options_of(args, InferenceConfig))
    model = load(args.model, inference.mixed_precision)
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
    for row in model.predict(inputs, batch_size=inference.batch_size):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_export(args) -> int:
    from bertkit.export.config import ExportConfig

    config = ExportConfig(**options_of(args, ExportConfig))
    if config.format == "litert":
        from bertkit.export.litert import export_litert

        path = export_litert(args.model, args.output, config, verify=not args.no_verify)
        what = f"LiteRT, quantize {config.quantize}"
    else:
        from bertkit.export.savedmodel import export_model

        if config.quantize != "none":
            raise BertkitError(f"--quantize {config.quantize} is for --format litert; a SavedModel keeps float32.")
        path = export_model(args.model, args.output, verify=not args.no_verify)
        what = "SavedModel"
    print(f"exported {args.model} to {path} ({what}; signature serving_default: raw text in, the task's outputs out)")
    return 0


def cmd_serve(args) -> int:
    from bertkit.serving.config import ServeConfig
    from bertkit.serving.server import serve

    serve(args.model, ServeConfig(**options_of(args, ServeConfig)))
    return 0


def cmd_report(args) -> int:
    from bertkit.report import MAX_EXAMPLES, build_report

    if (Path(args.run_dir) / "tune.json").exists():  # a `bertkit tune` folder: its search report
        from bertkit.tuning.report import rebuild_tune_report

        print(f"report written to {rebuild_tune_report(args.run_dir)}")
        return 0
    index = build_report(args.run_dir, data=args.data, max_examples=args.max_examples or MAX_EXAMPLES)
    for line in json.loads((index.parent / "summary.json").read_text())["missing"]:
        print(f"missing: {line}", file=sys.stderr)
    print(f"report written to {index}")
    return 0


def cmd_export_encoder(args) -> int:
    from bertkit.export.encoder import export_encoder
    from bertkit.weights import default_model_path

    model = args.model or default_model_path()
    out = export_encoder(model, args.format, args.output)
    print(f"wrote the {args.format} encoder of {model} to {out}")
    return 0


COMMANDS = {"report": cmd_report, "train": cmd_train, "tune": cmd_tune, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "export": cmd_export, "serve": cmd_serve, "export-encoder": cmd_export_encoder}


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
    try:
        import_tensorflow(args.verbose)  # its start-up notices kept off the terminal (see core.quiet)
        return COMMANDS[args.command](args)
    except BertkitError as e:
        print(f"bertkit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bertkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
