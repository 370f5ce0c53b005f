"""``python main.py predict``: the pipeline without a server, on files, folders or a datastore split.

Models come from the registry with the parsed settings (``--conf model_dir`` points at other weights), and the
pipeline infer task is called in process, so the command and the server give the same answer for one image.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Iterable, Optional

from tqdm import tqdm

from apps.cli.common import conf_dict, torch_threads
from apps.paths import APP_DIR
from lib.anatomy.names import SEGMENTS
from lib.core.atomic import write_csv_atomic as write_csv
from lib.core.atomic import write_json_atomic
from lib.core.errors import AppError, BadParameterError
from lib.core.settings import Settings, parse_settings

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
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
    predict.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The pipeline without a server: JSON, overlay and label files per radiograph, or prediction CSVs for a split."""
    torch_threads(args.threads)
    pipeline, settings = build_pipeline(conf_dict(args.conf), APP_DIR)
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


def build_pipeline(conf: dict, app_dir) -> tuple:
    """(pipeline infer task, settings) from ``--conf`` strings; only the pipeline (and what it joins) is built."""
    from apps.models.registry import build_models

    settings = dataclasses.replace(parse_settings(conf), models=("pipeline",))
    return build_models(settings, str(app_dir))["pipeline"].infer_task, settings


def radiograph_files(inputs: Iterable) -> list:
    """Files named, plus the radiographs in named folders (sorted, not recursive)."""
    from lib.io.reader import RADIOGRAPH_EXTENSIONS

    out = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted({p for pattern in RADIOGRAPH_EXTENSIONS for p in item.glob(pattern)})
        else:
            out.append(item)
    return out


def predict_one(pipeline, image_path: Path, out_dir: Path) -> dict:
    """Run the pipeline on one file; writes ``<name>.json``, ``<name>_overlay.png``, ``<name>_labels.nrrd``, (when
    compression was assessed) ``<name>_heatmap.nrrd`` and, for a DICOM radiograph, the findings as DICOM for sites
    without a PACS (``<stem>_seg.dcm``, ``<stem>_overlay.dcm``, ``<stem>_sr.dcm``). Returns the result JSON."""
    from lib.io.dicom_results import write_dicom_results
    from lib.io.reader import image_id_of, sniff_format
    from lib.results.outputs import write_pipeline_outputs
    from lib.results.overlay import segment_texts, write_overlay
    from lib.results.pipeline import segment_anchor_xy

    name = image_id_of(image_path)
    data = pipeline.run({"image": str(image_path)})
    result = write_pipeline_outputs(data, out_dir / f"{name}_labels.nrrd", out_dir / f"{name}_heatmap.nrrd")
    result["label_file"] = str(out_dir / f"{name}_labels.nrrd")
    if image_path.is_file() and sniff_format(image_path) == "dicom":
        result["dicom_files"] = {
            kind: str(path) for kind, path in write_dicom_results(image_path, data, out_dir).items()
        }
    write_json_atomic(result, out_dir / f"{name}.json")
    anchors = {s: segment_anchor_xy(data["landmarks"], s) for s in SEGMENTS}
    write_overlay(
        out_dir / f"{name}_overlay.png",
        data["pixels"],
        data["pred"],
        data["heatmap"],
        segment_texts(result, {s: a for s, a in anchors.items() if a}),
        title=f"{name}: {result['result']}",
    )
    return result


def predict_files(pipeline, inputs: Iterable, out_dir, progress: bool = True) -> list:
    """``[(path, result JSON or None, error message or None)]``; a file that fails is logged and skipped."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = radiograph_files(inputs)
    if not files:
        raise BadParameterError("no radiograph files found in the inputs given")
    outcomes = []
    for path in tqdm(files, desc="predict", unit="image", disable=not progress or len(files) < 2):
        try:
            outcomes.append((path, predict_one(pipeline, path, out_dir), None))
        except AppError as exc:
            logger.error("%s: skipped: %s", path.name, exc)
            outcomes.append((path, None, str(exc)))
    return outcomes


def segment_table(result: dict) -> str:
    """A per-segment text table of one pipeline result, for the terminal."""
    lines = [f"{'segment':8s} {'probability':>11s}  {'decision':15s} {'canal mm (upper/lower)':>23s}  note"]
    for segment, entry in result["segments"].items():
        p = "" if entry["probability"] is None else f"{entry['probability']:.3f}"
        canal = (
            "/".join(
                _fmt(row.get("canal_diameter_mm"))
                for row in ((entry["measurements"] or {}).get("levels") or {}).values()
            )
            or "-"
        )
        lines.append(f"{segment:8s} {p:>11s}  {entry['decision'] or '-':15s} {canal:>23s}  {entry['reason'] or ''}")
    return "\n".join(lines)


def _fmt(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.1f}"


def predict_split(
    pipeline, settings: Settings, studies, split: str, csv_path, reference_path=None, progress: bool = True
) -> dict:
    """Predictions CSV ``patient_id, segment, probability, split`` (empty probability = not evaluable) for the
    images of one datastore split, and optionally the reference CSV ``patient_id, segment, compression, kang``
    from their info ``segments`` (compression from the Kang grade at ``settings.kang_threshold`` when given)."""
    from apps.datastores.local import RadiographDatastore

    store = RadiographDatastore(str(studies), max_image_pixels=settings.max_image_pixels, read_only=True)
    ids = [i for i in sorted(store.list_images()) if store.get_image_info(i).get("split") == split]
    if not ids:
        raise BadParameterError(f"no image in {studies} has split {split!r}")
    predictions, reference, failed = [], [], []
    for image_id in tqdm(ids, desc=f"predict {split}", unit="image", disable=not progress):
        info = store.get_image_info(image_id)
        patient = str(info.get("patient_id") or image_id)
        try:
            result = pipeline.run({"image": store.get_image_uri(image_id)})["result"]
        except AppError as exc:
            logger.error("%s: skipped: %s", image_id, exc)
            failed.append(image_id)
            result = {"segments": {s: {"probability": None} for s in SEGMENTS}}
        for segment in SEGMENTS:
            p = result["segments"][segment]["probability"]
            predictions.append([patient, segment, "" if p is None else f"{p:.6f}", split])
        reference += reference_rows(patient, info, settings.kang_threshold)
    write_csv(csv_path, ["patient_id", "segment", "probability", "split"], predictions)
    if reference_path:
        write_csv(reference_path, ["patient_id", "segment", "compression", "kang"], reference)
    return {"images": len(ids), "failed": failed, "rows": len(predictions), "reference_rows": len(reference)}


def reference_rows(patient: str, info: dict, kang_threshold: int) -> list:
    from lib.models.crops import segment_targets

    targets = segment_targets(info, kang_threshold, require_evaluable=False)
    graded = info.get("segments") or {}
    rows = []
    for segment, target in targets.items():
        if target is None:
            continue  # no MRI reference for this segment
        kang = (graded.get(segment) or {}).get("kang")
        rows.append([patient, segment, str(target), "" if kang is None else str(int(kang))])
    return rows
