"""``python main.py <command>``: a thin command line over the ``lib`` APIs and the MONAI Label server.

Each command parses its arguments, calls one library function and reports; errors the user can fix
(``lib.core.errors.AppError``) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from apps.paths import APP_DIR
from lib.core.errors import AppError, BadParameterError
from lib.core.settings import parse_settings, settings_help

logger = logging.getLogger("main")

DEMO_DATASTORE = APP_DIR / "data" / "demo"


def _conf_dict(pairs: list[list[str]] | None) -> dict[str, str]:
    return {key: value for key, value in (pairs or [])}


def cmd_serve(args: argparse.Namespace) -> int:
    """Start MONAI Label on this app (127.0.0.1 by default), making the demo datastore on first run."""
    conf = _conf_dict(args.conf)
    parse_settings(conf)  # refuse a bad --conf here, with its message, before the server starts
    studies = str(args.studies) if args.studies else str(DEMO_DATASTORE)
    if not args.studies and not (DEMO_DATASTORE / "datastore_v2.json").exists():
        from apps.cli.phantom import make_demo_datastore

        logger.info("making the phantom demo datastore at %s (first run)", DEMO_DATASTORE)
        make_demo_datastore(DEMO_DATASTORE)
    command = [
        sys.executable,
        "-m",
        "monailabel.main",
        "start_server",
        "--app",
        str(APP_DIR),
        "--studies",
        studies,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    for key, value in conf.items():
        command += ["--conf", key, value]
    env = dict(os.environ)
    env.setdefault("MONAI_LABEL_TRACKING_ENABLED", "false")
    logger.info("serving on http://%s:%s (studies: %s)", args.host, args.port, studies)
    return subprocess.call(command, env=env)


def cmd_phantom(args: argparse.Namespace) -> int:
    """Write a synthetic cohort as a MONAI Label datastore (protocol, demo or a one-centre cohort)."""
    from apps.cli.phantom import make_cohort

    path = make_cohort(
        args.out,
        patients=args.patients,
        seed=args.seed,
        centre=args.centre,
        prevalence=args.prevalence,
        preset=args.preset,
        workers=args.workers,
    )
    print(f"cohort written to {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model on a datastore; the new weights replace the served ones only if they validate better."""
    import json

    from apps.cli.train import train_model

    torch_threads(args.threads)
    request = {
        "max_epochs": args.epochs,
        "train_batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "val_split": args.val_split,
    }
    request = {k: v for k, v in request.items() if v is not None}  # unset: the model's own default
    stats = train_model(args.model, str(args.studies), _conf_dict(args.conf), request)
    print(
        json.dumps(
            {k: stats.get(k) for k in ("best_metric", "best_metric_epoch", "total_time", "publish")},
            indent=2,
            default=str,
        )
    )
    return 0


def torch_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def cmd_study(args: argparse.Namespace) -> int:
    """The study protocol on the phantom cohort: pipeline on validation and both test sets, evaluation, report."""
    import json

    from apps.cli.study import run_study

    torch_threads(args.threads)
    result = run_study(
        args.out,
        studies=args.studies,
        conf=_conf_dict(args.conf),
        train=args.train,
        epochs={"levels": args.levels_epochs, "compression": args.compression_epochs},
        n_bootstrap=args.bootstrap,
        seed=args.seed,
    )
    sets = result["summary"].get("test_sets", {})
    for name, block in sets.items():
        metrics = block["units"]["segment"]["metrics"]
        shown = {
            k: (metrics.get(k) or {}).get("value") for k in ("accuracy", "auc", "sensitivity", "specificity", "kappa")
        }
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in shown.items() if v is not None))
    print(json.dumps(result["baselines"], indent=2))
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Metrics with patient-level bootstrap CIs, reader comparison, summary.json and report.html."""
    from lib.evaluation.evaluate import evaluate

    threshold = _threshold_arg(args.threshold)
    summary = evaluate(
        args.predictions,
        args.reference,
        args.out,
        readers_csv=args.readers,
        threshold=threshold,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        progress=True,
    )
    print(f"summary: {Path(args.out) / 'summary.json'}  report: {Path(args.out) / 'report.html'}")
    print(f"threshold {summary['threshold']['value']:.3f} ({summary['threshold']['source']})")
    return 0


def _threshold_arg(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def cmd_benchmark(args: argparse.Namespace) -> int:
    """Run one benchmark and print its figures as JSON (the numbers quoted in the README and model cards)."""
    import json

    from apps.cli.benchmarks import BENCHMARKS

    result = BENCHMARKS[args.name](args)
    print(json.dumps(result, indent=2))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """The pipeline without a server: JSON, overlay and label files per radiograph, or prediction CSVs for a split."""
    from apps.cli.predict import build_pipeline, predict_files, predict_split, segment_table

    torch_threads(args.threads)
    pipeline, settings = build_pipeline(_conf_dict(args.conf), APP_DIR)
    if args.studies:
        if not (args.split and args.csv):
            raise BadParameterError("--studies needs --split and --csv")
        summary = predict_split(pipeline, settings, args.studies, args.split, args.csv, args.reference)
        print(
            f"{summary['rows']} prediction rows for {summary['images']} images -> {args.csv}"
            + (f"; {summary['reference_rows']} reference rows -> {args.reference}" if args.reference else "")
            + (f"; failed: {', '.join(summary['failed'])}" if summary["failed"] else "")
        )
        return 0
    if not args.inputs or not args.out:
        raise BadParameterError("give radiograph files or folders and --out, or --studies with --split and --csv")
    outcomes = predict_files(pipeline, args.inputs, args.out)
    for path, result, error in outcomes:
        print(f"\n{path.name}: {error if error else result['result']}")
        if result:
            print(segment_table(result))
    failed = sum(error is not None for _, _, error in outcomes)
    print(f"\n{len(outcomes) - failed} of {len(outcomes)} radiographs done -> {args.out}")
    return 0 if failed < len(outcomes) else 2


def cmd_import_labels(args: argparse.Namespace) -> int:
    """Per-segment MRI labels from a CSV into the datastore's image info, all rows or none."""
    from apps.cli.import_labels import import_labels

    report = import_labels(args.csv, args.studies, _conf_dict(args.conf))
    print(
        f"imported {report['rows']} rows into {report['images_updated']} images; "
        f"{report['images_without_labels']} images have no row in the CSV"
    )
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Print every --conf setting with its default and meaning."""
    for key, (default, meaning) in settings_help().items():
        print(f"{key:20s} {default:28s} {meaning}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="Cervical cord compression on lateral radiographs: server, phantom data, training and evaluation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser("serve", help="start the MONAI Label server on this app")
    serve.add_argument("--studies", help=f"datastore folder or DICOMweb URL (default: demo at {DEMO_DATASTORE})")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting; see 'settings'")
    serve.set_defaults(func=cmd_serve)

    phantom = sub.add_parser("phantom", help="generate a synthetic lateral cervical radiograph cohort as a datastore")
    phantom.add_argument("--out", type=Path, required=True, help="folder to create (must not exist)")
    phantom.add_argument(
        "--preset",
        choices=("cohort", "protocol", "demo"),
        default="cohort",
        help="cohort: one centre split 80/10/10; protocol: 480/60/60 internal + 60 external; demo: small two-centre",
    )
    phantom.add_argument("--patients", type=int, default=24, help="patients (cohort and demo presets)")
    phantom.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    phantom.add_argument("--centre", default="internal", help="centre profile (cohort preset)")
    phantom.add_argument("--prevalence", type=float, default=0.5, help="share of compressed segments, 0-1 exclusive")
    phantom.add_argument("--workers", type=int, default=2, help="worker processes")
    phantom.set_defaults(func=cmd_phantom)

    train = sub.add_parser("train", help="train a model on a datastore (publishes only a better validated model)")
    train.add_argument("model", choices=("levels", "compression", "landmarks"), help="which model")
    train.add_argument("--studies", type=Path, required=True, help="datastore folder with final labels")
    train.add_argument("--epochs", type=int, help="default: the model's own (levels 30, compression 12, landmarks 25)")
    train.add_argument(
        "--batch-size", type=int, help="default: the model's own (levels 8, compression 32, landmarks 64)"
    )
    train.add_argument("--learning-rate", type=float, help="default: the model's own (2e-3 for all three)")
    train.add_argument("--val-split", type=float, default=0.1, help="validation share for images without a split")
    train.add_argument("--threads", type=int, help="torch CPU threads")
    train.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting, e.g. model_dir")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "evaluate", help="accuracy, sensitivity, specificity, F1, AUC, kappa with CIs; readers; HTML report"
    )
    evaluate.add_argument(
        "--predictions", type=Path, required=True, help="CSV: patient_id, segment, probability[, split]"
    )
    evaluate.add_argument("--reference", type=Path, required=True, help="CSV: patient_id, segment, compression[, kang]")
    evaluate.add_argument("--readers", type=Path, help="CSV: reader, patient_id, segment, call[, kang]")
    evaluate.add_argument("--out", type=Path, required=True, help="folder for summary.json and report.html")
    evaluate.add_argument(
        "--threshold",
        default="0.5",
        help="number, a model card JSON, 'youden' or 'sensitivity:0.9' (chosen on validation rows)",
    )
    evaluate.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates (patients resampled)")
    evaluate.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    evaluate.set_defaults(func=cmd_evaluate)

    study = sub.add_parser("study", help="the study protocol on the phantom cohort, reported like the paper")
    study.add_argument("--studies", type=Path, help="protocol datastore (default data/protocol, generated if absent)")
    study.add_argument("--out", type=Path, default=APP_DIR / "runs" / "study", help="folder for the report")
    study.add_argument("--train", action="store_true", help="train both models first (else use the shipped weights)")
    study.add_argument("--levels-epochs", type=int, default=15)
    study.add_argument("--compression-epochs", type=int, default=20)
    study.add_argument("--bootstrap", type=int, default=2000)
    study.add_argument("--seed", type=int, default=0)
    study.add_argument("--threads", type=int)
    study.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting, e.g. model_dir")
    study.set_defaults(func=cmd_study)

    benchmark = sub.add_parser("benchmark", help="measure speed and accuracy figures quoted in the README and cards")
    benchmark.add_argument("name", choices=("phantom", "evaluate", "levels", "pipeline"), help="what to measure")
    benchmark.add_argument("--out", type=Path, default=APP_DIR / "runs" / "benchmark", help="scratch folder")
    benchmark.add_argument("--seed", type=int, default=0)
    benchmark.add_argument("--studies", type=Path, help="datastore to measure on (levels; default data/protocol)")
    benchmark.add_argument("--model-dir", type=Path, help="weights to measure (default: the app's model/)")
    benchmark.add_argument("--limit", type=int, help="at most this many images per split")
    benchmark.add_argument("--split", help="split to measure (pipeline; default test_internal)")
    benchmark.set_defaults(func=cmd_benchmark)

    predict = sub.add_parser("predict", help="run the pipeline on radiographs without a server (JSON, overlay PNG)")
    predict.add_argument("inputs", nargs="*", type=Path, help="radiograph files or folders")
    predict.add_argument("--out", type=Path, help="folder for <name>.json, <name>_overlay.png and label files")
    predict.add_argument("--studies", type=Path, help="datastore: predict one split into a CSV instead")
    predict.add_argument("--split", help="split to predict with --studies, e.g. test_internal")
    predict.add_argument("--csv", type=Path, help="predictions CSV (patient_id, segment, probability, split)")
    predict.add_argument("--reference", type=Path, help="also write the reference CSV from the datastore")
    predict.add_argument("--threads", type=int, help="torch CPU threads")
    predict.add_argument(
        "--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting, e.g. model_dir"
    )
    predict.set_defaults(func=cmd_predict)

    import_labels = sub.add_parser("import-labels", help="per-segment MRI labels from a CSV into a datastore")
    import_labels.add_argument("csv", type=Path, help="CSV: image_id or patient_id, segment, compression and/or kang")
    import_labels.add_argument("--studies", type=Path, required=True, help="datastore folder")
    import_labels.add_argument(
        "--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="e.g. kang_threshold 2"
    )
    import_labels.set_defaults(func=cmd_import_labels)

    from apps.ops.ohif import add_commands as add_ohif_commands

    add_ohif_commands(sub)  # orthanc start|stop|upload, demo-ohif

    settings = sub.add_parser("settings", help="list the --conf settings with defaults")
    settings.set_defaults(func=cmd_settings)
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
