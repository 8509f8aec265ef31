"""Command line: `xent train|evaluate|predict|serve` (also `python -m xent`).

Errors in user input (config keys, files, columns, values) are printed as one
line naming the problem, with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

EPILOG = """examples:
  xent train binary                                   # breast cancer, the default
  xent train binary --data churn.csv --label churned --epochs 20
  xent train multiclass --set model.dropout=0.3 --seed 1
  xent train ctr                                      # synthetic click log
  xent train ctr --data frappe.validation.libfm --test-data frappe.test.libfm
  xent train ctr --data train.txt --format criteo --set model.kind=dcnv2
  xent train ctr --strategy multi_worker            # on each worker, with TF_CONFIG
  xent evaluate --model saved_models/binary/1 --data test.csv --label churned
  xent predict --model saved_models/binary/1 --data new.csv --out scores.csv
  xent serve --model-base saved_models                # REST :8501, gRPC :8500
  xent tune binary --trials 20 --run-dir runs/tune-binary  # again: resumes
"""


def _parser() -> argparse.ArgumentParser:
    from xent.pipelines import TASKS

    parser = argparse.ArgumentParser(
        prog="xent",
        description="Train, evaluate and score classifiers that share one "
        "cross-entropy loss.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="train a task end to end (data, model, report, export)",
        description="Train TASK: data -> model -> train -> evaluate -> report -> "
        "export. Writes runs/<task>/<run-key>/ and saved_models/<task>/<version>/. "
        "The same command again resumes an interrupted run from its last "
        "completed epoch, and returns a complete one without training.",
    )
    train.add_argument("task", choices=sorted(TASKS), help="the pipeline to run")
    train.add_argument(
        "--config", type=Path, help="YAML file on top of the task defaults"
    )
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.batch_size=64 (repeatable)",
    )
    train.add_argument("--data", help="CSV file, a built-in data set, or tfds:NAME")
    train.add_argument("--test-data", help="CSV file with the test rows")
    train.add_argument("--label", help="label column of the CSV file")
    train.add_argument(
        "--format",
        help="ctr: file layout (auto, csv, tsv, criteo, avazu, libsvm)",
    )
    for flag, what in (
        ("--categorical", "columns read as categorical"),
        ("--numeric", "columns read as numeric"),
        ("--multi-value", "ctr: multi-valued categorical columns (e.g. genres)"),
    ):
        train.add_argument(flag, metavar="A,B,...", help=f"{what}, comma-separated")
    train.add_argument(
        "--cross",
        metavar="A:B[,C:D]",
        help="ctr: crossed categorical fields, e.g. user:item (features.crosses)",
    )
    train.add_argument(
        "--on-bad-rows",
        choices=("fail", "skip"),
        help="data files: fail at the first malformed row (default) or skip "
        "malformed rows, counted in the report (data.on_bad_rows)",
    )
    train.add_argument(
        "--max-bad-rows",
        type=_non_negative_int,
        metavar="N",
        help="with --on-bad-rows skip: fail when more than N rows were skipped "
        "(default 100; data.max_bad_rows)",
    )
    train.add_argument("--rows", type=int, help="ctr: rows of the synthetic log")
    train.add_argument("--epochs", type=int, help="maximum number of epochs")
    train.add_argument("--seed", type=int, help="the run's seed")
    train.add_argument(
        "--strategy",
        metavar="NAME",
        help="tf.distribute strategy: default, mirrored (local replicas) or "
        "multi_worker (the cluster in TF_CONFIG; run on every worker)",
    )
    train.add_argument(
        "--run-dir",
        type=Path,
        help="run directory (default runs/<task>/<hash of config, seed and data "
        "files>); one holding an interrupted run of the same config resumes it",
    )
    train.add_argument(
        "--saved-models",
        type=Path,
        default=Path("saved_models"),
        help="export base directory (default saved_models)",
    )
    train.add_argument(
        "--no-export", action="store_true", help="skip the SavedModel export"
    )
    train.add_argument(
        "--quiet",
        action="store_true",
        help="no progress output (bars, data preparation, stage timings); "
        "errors and the results table still print",
    )

    predict = sub.add_parser(
        "predict",
        help="score a CSV file with an exported model",
        description="Batch scoring: reads the feature columns named in the "
        "export's metadata, writes probabilities, class_id and label per row.",
    )
    predict.add_argument(
        "--model", type=Path, required=True, help="a SavedModel version dir"
    )
    predict.add_argument("--data", type=Path, required=True, help="CSV file to score")
    predict.add_argument("--out", type=Path, required=True, help="output CSV file")

    evaluate = sub.add_parser(
        "evaluate",
        help="evaluate an exported model on labelled data",
        description="Scores labelled CSV data with an exported model and "
        "writes report.json and report.html.",
    )
    evaluate.add_argument(
        "--model", type=Path, required=True, help="a SavedModel version dir"
    )
    evaluate.add_argument("--data", type=Path, required=True, help="labelled CSV file")
    evaluate.add_argument("--label", required=True, help="label column")
    evaluate.add_argument("--out", type=Path, required=True, help="output directory")

    serve = sub.add_parser(
        "serve",
        help="serve exported models over REST and gRPC (TF Serving's APIs)",
        description="Serves every model under --model-base (<model>/<version>/) "
        "with TensorFlow Serving's REST API v1 and gRPC API; new versions are "
        "loaded without a restart; SIGTERM finishes the requests in flight.",
    )
    serve.add_argument(
        "--model-base",
        type=Path,
        default=Path("saved_models"),
        help="model base directory (default saved_models)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default loopback)"
    )
    serve.add_argument("--port", type=int, default=8501, help="REST port (0: any)")
    serve.add_argument("--grpc-port", type=int, default=8500, help="gRPC port (0: any)")
    serve.add_argument(
        "--max-batch-size",
        type=int,
        default=64,
        help="most rows merged into one model call; 1 turns batching off",
    )
    serve.add_argument(
        "--batch-timeout-ms",
        type=float,
        default=0.0,
        help="longest wait for a batch to fill (default 0: merge what queued)",
    )
    serve.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="scan for new versions every N seconds (0: never)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=16 << 20,
        help="largest request body or gRPC message (default 16 MiB)",
    )
    # The bounds on the work one request may cause (`xent.serving.limits`);
    # None keeps `ServerConfig`'s default, the one place they are set.
    for flag, kind, text in (
        ("--max-input-elements", int, "elements one input may expand to"),
        ("--max-request-elements", int, "elements of all inputs of a request"),
        ("--max-string-bytes", int, "bytes of all strings of a request"),
        ("--max-sample-count", int, "largest `count` input (e.g. GAN sample)"),
        ("--deadline-seconds", float, "per-request deadline"),
        ("--header-timeout-seconds", float, "REST: seconds to send the headers"),
        ("--body-timeout-seconds", float, "REST: seconds to send the body"),
        ("--max-connections", int, "REST: most open connections (default 256)"),
        ("--idle-timeout-seconds", float, "REST: close idle keep-alive after N s"),
        ("--model-config-file", Path, "TF Serving ModelServerConfig text file"),
        (
            "--model-config-file-poll-wait-seconds",
            float,
            "re-read the model config file every N s (default 0: never)",
        ),
        ("--request-log", Path, "append sampled requests as JSON lines here"),
        ("--request-log-sample-rate", float, "share of requests logged (default 1)"),
    ):
        serve.add_argument(flag, type=kind, default=None, help=text)

    # `tune` takes every flag of `train` (copied from its parser), plus these.
    tune = sub.add_parser(
        "tune",
        parents=[train],
        add_help=False,
        help="search a task's settings with Optuna, then train the best",
        description="Runs --trials trials of TASK (ordinary runs under "
        "<run-dir>/trials/), scored on the validation metric, over the space "
        "pipelines/<task>.search.yaml (or --space); then trains, tests and "
        "exports the best settings (<run-dir>/final/) and writes "
        "<run-dir>/best.yaml. --run-dir (default runs/tune-TASK-TIME) holding "
        "a search resumes it.",
    )
    tune.add_argument("--trials", type=int, required=True, help="completed trials")
    tune.add_argument("--timeout", type=float, help="start no trial after S seconds")
    tune.add_argument("--space", type=Path, help="search space YAML file")
    return parser


def _tune(args) -> int:
    from xent import tune
    from xent.pipelines import TASKS

    tune.tune(
        TASKS[args.task],
        args.trials,
        user_config=args.config,
        overrides=_train_overrides(args),
        space=args.space,
        tune_dir=args.run_dir,
        timeout=args.timeout,
        saved_models=args.saved_models,
        export=not args.no_export,
        verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),
    )
    return 0


def _train_overrides(args) -> list[str]:
    """The overrides of the data and config flags of `train` (and `tune`)."""
    from xent import config as config_lib
    from xent.pipelines import TASKS

    task = TASKS[args.task]
    overrides = list(args.overrides)
    if args.data is not None:
        overrides.append(f"data.source={json.dumps(args.data)}")
    if args.test_data is not None:
        overrides.append(f"data.test_source={json.dumps(args.test_data)}")
    if args.label is not None:
        overrides.append(f"data.label={json.dumps(args.label)}")
    if args.format is not None:
        overrides.append(f"data.format={json.dumps(args.format)}")
    for key in ("categorical", "numeric", "multi_value"):
        value = getattr(args, key)
        if value is not None:
            columns = [c.strip() for c in value.split(",") if c.strip()]
            overrides.append(f"data.{key}={json.dumps(columns)}")
    if args.cross is not None:
        if not task.crossed_features:
            raise config_lib.ConfigError(
                f"--cross applies to the ctr task; {args.task} has no crossed features"
            )
        crosses = []
        for part in args.cross.split(","):
            if not part.strip():
                continue
            columns = [c.strip() for c in part.split(":")]
            if len(columns) < 2 or not all(columns):
                raise config_lib.ConfigError(
                    f"Invalid value for --cross: {part.strip()!r} (expected "
                    "columns joined by ':', e.g. user:item)"
                )
            crosses.append(columns)
        overrides.append(f"features.crosses={json.dumps(crosses)}")
    for flag, key in (
        ("--on-bad-rows", "on_bad_rows"),
        ("--max-bad-rows", "max_bad_rows"),
    ):
        value = getattr(args, key)
        if value is None:
            continue
        if not task.reads_files:
            readers = sorted(name for name, t in TASKS.items() if t.reads_files)
            raise config_lib.ConfigError(
                f"{flag} applies to the tasks that read data files "
                f"({', '.join(readers)}); {args.task} does not"
            )
        overrides.append(f"data.{key}={json.dumps(value)}")
    if args.rows is not None:
        overrides.append(f"data.synthetic.rows={args.rows}")
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    if args.strategy is not None:
        if not task.distributable:
            supported = sorted(name for name, t in TASKS.items() if t.distributable)
            raise config_lib.ConfigError(
                f"--strategy applies to the tasks {', '.join(supported)}; "
                f"{args.task} trains in one process"
            )
        overrides.append(f"train.strategy={json.dumps(args.strategy)}")
    return overrides


def _train(args) -> int:
    from xent import config as config_lib
    from xent import runner
    from xent.pipelines import TASKS

    task = TASKS[args.task]
    config = config_lib.load_config(
        task.config_class, task.defaults, args.config, _train_overrides(args)
    )
    runner.run(
        task,
        config,
        run_dir=args.run_dir,
        saved_models=args.saved_models,
        export=not args.no_export,
        # Keras' live bar on a terminal, a line per epoch in a log file.
        verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),
    )
    return 0


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: expected an integer >= 0"
        )
    return value


def _load_export(model_dir: Path):
    """The serving signature and metadata of an exported version.

    Raises:
        ValueError: If `model_dir` is not a directory holding a readable
            SavedModel and its metadata (the message names what is wrong).
    """
    import tensorflow as tf

    from xent.export import load_metadata

    if not model_dir.is_dir():
        what = "a file" if model_dir.exists() else "not found"
        raise ValueError(
            f"--model {model_dir}: {what}; expected a SavedModel version "
            "directory, e.g. saved_models/binary/1"
        )
    if not (model_dir / "saved_model.pb").is_file():
        raise ValueError(
            f"{model_dir} is not a SavedModel directory (no saved_model.pb)"
        )
    try:
        metadata = load_metadata(model_dir)
    except FileNotFoundError:
        raise ValueError(
            f"{model_dir} has no xent metadata (assets.extra/); was it exported "
            "by `xent train`?"
        ) from None
    except ValueError as err:
        raise ValueError(
            f"{model_dir}: the export's metadata is not JSON: {err}"
        ) from None
    try:
        loaded = tf.saved_model.load(str(model_dir))
    except (OSError, ValueError, tf.errors.OpError) as err:
        reason = " ".join(str(err).split())
        raise ValueError(
            f"{model_dir}: cannot load the SavedModel (incomplete or damaged "
            f"files?): {reason}"
        ) from None
    if "serving_default" not in loaded.signatures:
        raise ValueError(
            f"{model_dir}: the SavedModel has no serving_default signature; its "
            f"signatures are {sorted(loaded.signatures)}"
        )
    return loaded.signatures["serving_default"], metadata


def _check_data_file(flag: str, path: Path) -> None:
    """Refuses an input file that is missing or a directory, naming the flag."""
    if not path.exists():
        raise ValueError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; expected a CSV file")


def _check_out_file(path: Path) -> None:
    """Refuses an output path that cannot become a file, before any work."""
    if path.is_dir():
        raise ValueError(
            f"--out {path} is a directory; expected a file path, e.g. "
            f"{path / 'scores.csv'}"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--out {path}: {parent} is a file, not a directory")
            break


def _read_features(
    path: Path,
    metadata: dict,
    label: str | None = None,
    on_extra: Callable[[list[str]], None] | None = None,
):
    """Reads the export's feature columns from a CSV file, checking them.

    The file is read as training reads it (`xent.data.csv_table.iter_csv_rows`:
    a byte-order mark is dropped, fields are stripped, blank lines skipped),
    with the same missing values and number parsing; a malformed row is an
    error naming its line. An empty or repeated column name, a column the
    model needs that the file lacks, and a file without data rows are errors
    naming the file and the columns; columns the model does not use go to
    `on_extra` (if given) and are ignored.

    Returns:
        `(features, labels, lines)`: `{input name: [n, 1] array}`, the raw
        labels (`None` without `label`) and the line of each row.
    """
    import numpy as np

    from xent.data.columns import MISSING_VALUES
    from xent.data.columns import parse_float
    from xent.data.csv_table import check_header
    from xent.data.csv_table import iter_csv_rows

    schema = metadata.get("schema")
    if not schema:
        raise ValueError(
            "This export has no tabular schema in its metadata; only tabular "
            "models score CSV files"
        )
    numeric, categorical = list(schema["numeric"]), list(schema["categorical"])
    missing = frozenset(MISSING_VALUES)

    def reject(line: int, reason: str) -> None:
        raise ValueError(f"{path}:{line}: {reason}")

    rows = iter_csv_rows(str(path), reject)
    first = next(rows, None)
    if first is None:
        raise ValueError(f"{path} is empty: expected a header row and data rows")
    header_line, header = first
    check_header(str(path), header_line, header)
    wanted = numeric + categorical + ([label] if label else [])
    present = set(header)
    absent = [c for c in wanted if c not in present]
    extra = [c for c in header if c not in set(wanted)]
    if absent:
        also = (
            f"; it has column(s) {extra} that the model does not use" if extra else ""
        )
        raise ValueError(
            f"{path}:{header_line}: missing column(s) {absent} that the model "
            f"needs{also}"
        )
    if extra and on_extra is not None:
        on_extra(extra)
    index = {c: i for i, c in enumerate(header)}
    lines, body = [], []
    for line, fields in rows:
        if len(fields) != len(header):
            raise ValueError(
                f"{path}:{line}: expected {len(header)} fields, found {len(fields)}"
            )
        lines.append(line)
        body.append(fields)
    if not body:
        raise ValueError(f"{path} has a header row but no data rows to score")
    features = {}
    for col in numeric:
        values = np.empty((len(body), 1), "float32")
        for i, row in enumerate(body):
            raw = row[index[col]]
            number = np.nan if raw in missing else parse_float(raw)
            if number is None:
                raise ValueError(
                    f"{path}:{lines[i]}: column {col!r}: {raw!r} is not a number"
                )
            values[i, 0] = number
        features[col] = values
    for col in categorical:
        values = np.empty((len(body), 1), dtype=object)
        values[:, 0] = [
            "" if row[index[col]] in missing else row[index[col]] for row in body
        ]
        features[col] = values
    labels = [row[index[label]] for row in body] if label else None
    # The serving signature names inputs by sanitized column names.
    input_names = schema.get("input_names") or {}
    features = {input_names.get(col, col): values for col, values in features.items()}
    return features, labels, lines


def _score(fn, features: dict, batch_size: int = 4096) -> dict:
    import numpy as np
    import tensorflow as tf

    specs = fn.structured_input_signature[1]
    n = len(next(iter(features.values())))
    outputs: dict[str, list] = {}
    for start in range(0, n, batch_size):
        feed = {}
        for name, spec in specs.items():
            value = features[name][start : start + batch_size]
            if spec.dtype == tf.string:
                feed[name] = tf.constant(value.astype(str))
            else:
                feed[name] = tf.constant(value, dtype=spec.dtype)
        for key, value in fn(**feed).items():
            outputs.setdefault(key, []).append(value.numpy())
    return {k: np.concatenate(v) for k, v in outputs.items()}


def _predict(args) -> int:
    from xent.runner import write_atomic

    _check_data_file("--data", args.data)
    _check_out_file(args.out)
    fn, metadata = _load_export(args.model)
    features, _, _ = _read_features(args.data, metadata, on_extra=_note_ignored(args))
    out = _score(fn, features)
    probs = out["probabilities"]
    class_names = metadata.get("class_names") or []
    lines = []
    prob_cols = (
        [f"p_{class_names[1]}"]
        if probs.shape[1] == 1 and len(class_names) == 2
        else [f"p_{c}" for c in class_names]
        or [f"p_{i}" for i in range(probs.shape[1])]
    )
    writer_rows = [prob_cols + ["class_id", "label"]]
    for i in range(len(probs)):
        label = out["label"][i].decode() if "label" in out else ""
        writer_rows.append(
            [f"{p:.6g}" for p in probs[i]] + [str(int(out["class_id"][i])), label]
        )
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(writer_rows)
    lines = buffer.getvalue()
    write_atomic(args.out, lines)
    print(f"scored {len(probs)} rows -> {args.out}")
    return 0


def _evaluate(args) -> int:
    import numpy as np

    from xent import evaluation
    from xent import report as report_lib
    from xent.runner import write_atomic

    _check_data_file("--data", args.data)
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; expected a directory")
    fn, metadata = _load_export(args.model)
    features, labels, lines = _read_features(
        args.data, metadata, label=args.label, on_extra=_note_ignored(args)
    )
    class_names = list(metadata.get("class_names") or [])
    mapping = metadata.get("schema", {}).get("label_mapping") or {
        name: i for i, name in enumerate(class_names)
    }
    y = []
    for i, value in enumerate(labels):
        key = _label_key(value, mapping)
        if key is None:
            raise ValueError(
                f"{args.data}:{lines[i]}: label {value!r} is not one of the model's "
                f"classes {class_names}"
            )
        y.append(mapping[key])
    y = np.asarray(y)
    probs = _score(fn, features)["probabilities"]
    task = metadata.get("task", "binary")
    if probs.shape[1] == 1:
        metrics = evaluation.binary_metrics(y, probs[:, 0])
        plots = report_lib.render_plots("binary", y, probs[:, 0], {}, class_names)
    else:
        metrics = evaluation.multiclass_metrics(y, probs, class_names)
        plots = report_lib.render_plots("multiclass", y, probs, {}, class_names)
    report = report_lib.to_jsonable(
        {
            "task": task,
            "dataset": {"name": str(args.data), "rows": {"test": len(y)}},
            "metrics": {"test": metrics},
            "model": str(args.model),
        }
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for name, png in plots.items():
        write_atomic(args.out / name, png)
    write_atomic(
        args.out / "report.html", report_lib.render_html(report, {n: n for n in plots})
    )
    write_atomic(
        args.out / "report.json", json.dumps(report, indent=2, allow_nan=False)
    )
    print(f"report: {args.out / 'report.json'}")
    return 0


def _note_ignored(args) -> Callable[[list[str]], None]:
    """Says on stderr which columns of `--data` the model does not read."""

    def note(columns: list[str]) -> None:
        print(
            f"xent {args.command}: note: ignoring column(s) {columns} of "
            f"{args.data} that the model does not use",
            file=sys.stderr,
        )

    return note


def _label_key(value: str, mapping: dict):
    if value in mapping:
        return value
    lowered = value.lower()
    for key in mapping:
        if str(key).lower() == lowered:
            return key
    try:
        number = float(value)
    except ValueError:
        return None
    for key in mapping:
        try:
            if float(key) == number:
                return key
        except ValueError:
            continue
    return None


def _serve(args) -> int:
    import logging

    from xent.serving.server import ServerConfig
    from xent.serving.server import serve

    log = logging.getLogger("xent.serving")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    config = ServerConfig(
        model_base=None if args.model_config_file else args.model_base,
        host=args.host,
        rest_port=args.port,
        grpc_port=args.grpc_port,
        max_batch_size=args.max_batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
        poll_seconds=args.poll_seconds,
        max_body_bytes=args.max_body_bytes,
        **{
            key: getattr(args, key)
            for key in (
                "max_input_elements",
                "max_request_elements",
                "max_string_bytes",
                "max_sample_count",
                "deadline_seconds",
                "header_timeout_seconds",
                "body_timeout_seconds",
                "max_connections",
                "idle_timeout_seconds",
                "model_config_file",
                "model_config_file_poll_wait_seconds",
                "request_log",
                "request_log_sample_rate",
            )
            if getattr(args, key) is not None
        },
    )
    try:
        return serve(config)
    except OSError as err:
        raise ValueError(f"cannot start the server: {err}") from None


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with the C++ standard error silenced.

    TensorFlow 2.21 writes absl's "All log messages before
    absl::InitializeLog()" and oneDNN's notice to file descriptor 2 at
    import, whatever `TF_CPP_MIN_LOG_LEVEL` says. With the level at 1 or
    more (the default here) the import runs with descriptor 2 on
    /dev/null; an import error still raises, after it is restored.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0") or (
        "tensorflow" in sys.modules
    ):
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # No usable descriptor 2.
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _import_tensorflow_quietly()
    args = _parser().parse_args(argv)
    from xent.config import ConfigError
    from xent.runner import TrainingDivergedError

    handlers = {
        "train": _train,
        "predict": _predict,
        "evaluate": _evaluate,
        "serve": _serve,
        "tune": _tune,
    }
    try:
        return handlers[args.command](args)
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"xent {args.command}: error: {message}", file=sys.stderr)
        return 2
    except TrainingDivergedError as err:
        print(f"xent {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"xent {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
