"""``python main.py evaluate``: a thin command over ``lib.evaluation.evaluate`` (metrics with patient-level
bootstrap CIs, reader comparison, ``summary.json`` and ``report.html``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
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
    evaluate.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Metrics with patient-level bootstrap CIs, reader comparison, summary.json and report.html."""
    from lib.evaluation.evaluate import evaluate

    summary = evaluate(
        args.predictions,
        args.reference,
        args.out,
        readers_csv=args.readers,
        threshold=threshold_arg(args.threshold),
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        progress=True,
    )
    print(f"summary: {Path(args.out) / 'summary.json'}  report: {Path(args.out) / 'report.html'}")
    print(f"threshold {summary['threshold']['value']:.3f} ({summary['threshold']['source']})")
    return 0


def threshold_arg(text: str):
    """``--threshold``: a number stays a number; anything else (card path, 'youden', 'sensitivity:0.9') as given."""
    try:
        return float(text)
    except ValueError:
        return text
