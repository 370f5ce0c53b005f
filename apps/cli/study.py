"""``python main.py study``: the study's protocol on the phantom cohort, end to end, laid out like its results.

Train on the 480 training patients (optional: shipped weights otherwise), freeze the operating threshold chosen on
the 60 validation patients (the compression card's), run the pipeline on validation and both test sets, and
evaluate per segment, level and patient with patient-level bootstrap CIs. Two measurement-only baselines stand
beside the network: the stenosis rule (canal < 13 mm or Torg-Pavlov ratio < 0.8) as a *reader*, and a logistic
model on the pipeline's own measurements, fitted on the validation patients, compared with DeLong's test.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from apps.cli.common import conf_dict, torch_threads
from apps.cli.predict import build_pipeline, reference_rows, write_csv
from apps.paths import APP_DIR
from lib.anatomy.names import SEGMENTS
from lib.core.atomic import write_json_atomic
from lib.core.errors import AppError

logger = logging.getLogger(__name__)
STUDY_SPLITS = ("validation", "test_internal", "test_external")
RULE_READER = "measurement rule (canal < 13 mm or TPR < 0.8)"


def add_parser(sub) -> None:
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
    study.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The study protocol on the phantom cohort: pipeline on validation and both test sets, evaluation, report."""
    torch_threads(args.threads)
    result = run_study(
        args.out,
        studies=args.studies,
        conf=conf_dict(args.conf),
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


def ensure_protocol_cohort(studies: Path, seed: int) -> Path:
    """The 660-patient protocol datastore at ``studies``, generated when absent (about 1.5 minutes)."""
    if (studies / "datastore_v2.json").exists():
        return studies
    from apps.cli.phantom import make_cohort

    logger.info("generating the protocol cohort at %s", studies)
    return make_cohort(studies, seed=seed, preset="protocol")


def collect(pipeline, settings, studies: Path, progress: bool = True) -> list[dict]:
    """One row per image of the study splits: patient, split, pipeline result (or the error), reference info."""
    from apps.datastores.local import RadiographDatastore

    store = RadiographDatastore(
        str(studies), max_image_pixels=settings.max_image_pixels, auto_reload=False, read_only=True
    )
    ids = [i for i in sorted(store.list_images()) if store.get_image_info(i).get("split") in STUDY_SPLITS]
    rows = []
    for image_id in tqdm(ids, desc="pipeline", unit="image", disable=not progress):
        info = store.get_image_info(image_id)
        row = {
            "image_id": image_id,
            "patient_id": str(info.get("patient_id") or image_id),
            "split": info["split"],
            "info": info,
            "result": None,
        }
        try:
            row["result"] = pipeline.run({"image": store.get_image_uri(image_id)})["result"]
        except AppError as exc:
            logger.error("%s: %s", image_id, exc)
            row["error"] = str(exc)
        rows.append(row)
    return rows


def write_inputs(rows: list[dict], folder: Path, kang_threshold: int) -> dict:
    """predictions.csv, reference.csv and readers.csv (the rule as a reader) for ``lib.evaluation.evaluate``."""
    # Imported here, not at the top: the command line builds its parser without scikit-learn.
    from lib.evaluation.baseline import features_from_pipeline, rule_call

    predictions, reference, readers = [], [], []
    for row in rows:
        segments = (row["result"] or {}).get("segments", {})
        features = features_from_pipeline(row["result"] or {})
        for segment in SEGMENTS:
            p = (segments.get(segment) or {}).get("probability")
            predictions.append([row["patient_id"], segment, "" if p is None else f"{p:.6f}", row["split"]])
            call = rule_call(features[segment]) if segment in features else None
            if row["split"] != "validation":
                readers.append([RULE_READER, row["patient_id"], segment, "" if call is None else str(call)])
        reference += reference_rows(row["patient_id"], row["info"], kang_threshold)
    paths = {name: folder / f"{name}.csv" for name in ("predictions", "reference", "readers")}
    write_csv(paths["predictions"], ["patient_id", "segment", "probability", "split"], predictions)
    write_csv(paths["reference"], ["patient_id", "segment", "compression", "kang"], reference)
    write_csv(paths["readers"], ["reader", "patient_id", "segment", "call"], readers)
    return paths


def logistic_baseline(rows: list[dict], reference_csv: Path) -> dict:
    """Fit the measurement logistic model on validation segments; AUC and DeLong against the network per test set."""
    from lib.evaluation.baseline import feature_matrix, features_from_pipeline, fit_logistic, predict_logistic
    from lib.evaluation.stats import delong_test

    truth = {}
    with open(reference_csv, newline="") as f:
        for ref in csv.DictReader(f):
            truth[(ref["patient_id"], ref["segment"])] = int(ref["compression"])
    table = {split: ([], [], []) for split in STUDY_SPLITS}  # features, network probability, reference
    for row in rows:
        features = features_from_pipeline(row["result"] or {})
        for segment, values in features.items():
            p = row["result"]["segments"][segment]["probability"]
            y = truth.get((row["patient_id"], segment))
            if p is None or y is None or np.isnan(values.get("canal_min_mm", np.nan)):
                continue
            table[row["split"]][0].append(values)
            table[row["split"]][1].append(p)
            table[row["split"]][2].append(y)
    x_val, _, y_val = table["validation"]
    if len(set(y_val)) < 2:
        return {"undefined": "validation segments with measurements do not have both classes"}
    model = fit_logistic(_impute(feature_matrix(x_val)), np.array(y_val))
    out = {"fitted_on": f"{len(y_val)} validation segments", "features": list(model.get("features", []))}
    for split in STUDY_SPLITS[1:]:
        x, p, y = table[split]
        if len(set(y)) < 2:
            out[split] = {"undefined": "fewer than two classes"}
            continue
        scores = predict_logistic(model, _impute(feature_matrix(x)))
        test = delong_test(np.array(y), np.array(p), scores)
        out[split] = {
            "segments": len(y),
            "auc_network": round(test["auc_a"], 4),
            "auc_logistic": round(test["auc_b"], 4),
            "delong_p": test["p_value"],
            "difference": round(test["difference"], 4),
        }
    return out


def _impute(matrix: np.ndarray) -> np.ndarray:
    """Missing measurements (a level without a canal, say) become the column mean, 0 when a column is empty."""
    filled = matrix.copy()
    means = np.nan_to_num(np.nanmean(np.where(np.isnan(filled).all(0), 0.0, filled), axis=0))
    rows, cols = np.where(np.isnan(filled))
    filled[rows, cols] = means[cols]
    return filled


def run_study(
    out: Path,
    studies: Path | None = None,
    conf: dict | None = None,
    train: bool = False,
    epochs: dict | None = None,
    n_bootstrap: int = 2000,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """The whole protocol; writes summary.json, report.html, baselines.json and the CSVs into ``out``."""
    from lib.evaluation.evaluate import evaluate

    out.mkdir(parents=True, exist_ok=True)
    studies = ensure_protocol_cohort(Path(studies or APP_DIR / "data" / "protocol"), seed)
    conf = dict(conf or {})
    if train:
        from apps.cli.train import train_model

        for model in ("levels", "compression"):
            train_model(model, str(studies), conf, {"max_epochs": (epochs or {}).get(model, 20)})
    pipeline, settings = build_pipeline(conf, APP_DIR)
    rows = collect(pipeline, settings, studies, progress)
    paths = write_inputs(rows, out, settings.kang_threshold)
    card = Path(settings.model_dir or APP_DIR / "model") / "compression.json"
    summary = evaluate(
        paths["predictions"],
        paths["reference"],
        out,
        readers_csv=paths["readers"],
        threshold=str(card) if card.is_file() else 0.5,
        n_bootstrap=n_bootstrap,
        seed=seed,
        progress=progress,
    )
    baselines = logistic_baseline(rows, paths["reference"])
    write_json_atomic(baselines, out / "baselines.json")
    failed = [r["image_id"] for r in rows if r["result"] is None]
    logger.info("study: %d images, %d failed; report at %s", len(rows), len(failed), out / "report.html")
    return {"summary": summary, "baselines": baselines, "failed_images": failed}
