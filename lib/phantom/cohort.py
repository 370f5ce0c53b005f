"""Writing a phantom cohort as a folder the app turns into a MONAI Label local datastore.

Layout: ``<image_id>.dcm``, ``labels/final/<image_id>.nii.gz``, ``phantom_labels.json``, ``manifest.csv`` and
``ceiling.json``. The folder is built under a temporary sibling and renamed into place at the end, so an
interrupted run leaves no half-written datastore.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Iterable, List, Optional

from tqdm import tqdm

from lib.core.errors import BadParameterError
from lib.io.geometry import viewer_geometry_of
from lib.io.labels import write_label_map
from lib.phantom.case import generate_patient
from lib.phantom.ceiling import ceiling
from lib.phantom.config import PhantomConfig, protocol_config
from lib.phantom.dicom import write_dicom
from lib.phantom.film.case import generate_film_patient
from lib.phantom.patient import sample_patient
from lib.phantom.truth import segment_truth

log = logging.getLogger(__name__)
STYLES = ("schematic", "film", "mixed")
MANIFEST_FIELDS = (
    "image_id",
    "patient_id",
    "centre",
    "split",
    "spacing_mm",
    "magnification",
    "rows",
    "cols",
    "photometric",
    "curvature",
    "age_years",
    "n_segments_positive",
    "n_segments_evaluable",
    "max_kang",
    "shoulders_hide_c7",
    "ceiling_auc_of_split",
)


def _summary(spec, segments: dict) -> dict:
    return {
        "image_id": spec.image_id,
        "patient_id": spec.patient_id,
        "centre": spec.centre.name,
        "split": spec.split,
        "spacing_mm": spec.spacing_mm,
        "magnification": round(spec.magnification, 4),
        "rows": spec.shape_px[0],
        "cols": spec.shape_px[1],
        "photometric": "MONOCHROME1" if spec.acquisition["monochrome1"] else "MONOCHROME2",
        "curvature": spec.curvature,
        "age_years": round(spec.age_years, 1),
        "n_segments_positive": sum(s["compression"] for s in segments.values()),
        "n_segments_evaluable": sum(s["evaluable"] for s in segments.values()),
        "max_kang": max(s["kang"] for s in segments.values()),
        "shoulders_hide_c7": "C7" not in spec.annotated_levels,
    }


def label_record(config: PhantomConfig, index: int) -> dict:
    """The labels of patient ``index`` without rendering (fast path): split, centre, segments, manifest fields."""
    spec = sample_patient(config, index)
    segments = segment_truth(spec)
    return {"split": spec.split, "centre": spec.centre.name, "segments": segments, "summary": _summary(spec, segments)}


def _write_image(folder, config: PhantomConfig, index: int, style: str):
    """(case, DICOM path, extra label fields) of one patient in the style asked for."""
    if style == "film":
        case = generate_film_patient(config, index)
        spec = case.spec
        path = Path(folder) / f"{spec.image_id}.dcm"
        a = spec.acquisition
        write_dicom(
            path,
            case.stored,
            spec,
            config.seed,
            bits_stored=int(a["bits_stored"]),
            orientation=("P" if spec.facing > 0 else "A", "F"),
            burned_in=bool(a["marker"]),
        )
        return case, path, {"style": "film", "film": film_record(spec)}
    case = generate_patient(config, index)
    path = Path(folder) / f"{case.spec.image_id}.dcm"
    write_dicom(path, case.stored, case.spec, config.seed)
    return case, path, {}


def film_record(spec) -> dict:
    """How a film-style image was posed and framed (kept with its labels for failure analysis)."""
    return {
        "facing": "left" if spec.facing > 0 else "right",
        "rotation_deg": round(math.degrees(spec.rotation_rad), 2),
        "posture_deg": round(spec.posture_deg, 2),
        "field": spec.acquisition["field"],
        "bits_stored": int(spec.acquisition["bits_stored"]),
        "marker": bool(spec.acquisition["marker"]),
    }


def _write_one(job) -> dict:
    """Write one patient; ``job`` is ``(config, index, folder)`` or ``(config, index, folder, style)``."""
    config, index, folder, *rest = job
    style = rest[0] if rest else "schematic"
    case, image_path, extra = _write_image(folder, config, index, style)
    spec = case.spec
    # The label on the grid a viewer reads the DICOM on (ImagerPixelSpacing), not the measurement spacing.
    grid = viewer_geometry_of(image_path, case.mask.shape, case.spacing_mm, [])
    write_label_map(Path(folder) / "labels" / "final" / f"{spec.image_id}.nii.gz", case.mask, grid)
    entry = {
        "patient_id": spec.patient_id,
        "centre": spec.centre.name,
        "split": spec.split,
        "segments": case.segments,
        "landmarks": case.landmarks,
        "measurements": case.measurements,
        "spacing_mm": list(case.spacing_mm),
        "magnification": round(spec.magnification, 6),
        "curvature": spec.curvature,
        "annotated_levels": list(spec.annotated_levels),
        **extra,
    }
    return {
        "split": spec.split,
        "centre": spec.centre.name,
        "segments": case.segments,
        "summary": _summary(spec, case.segments),
        "entry": entry,
    }


def _jobs(config: PhantomConfig, folder: str, style: str) -> List[tuple]:
    """One job per image. ``mixed``: every patient drawn as film, plus the schematic drawing of every patient
    outside the training split and of every second training patient, so that a model trained on it learns the
    film without forgetting the phantom the demo and the tests use, and is selected and checked on both."""
    if style != "mixed":
        return [(config, i, folder, style) for i in range(config.n_patients)]
    films = [(config, i, folder, "film") for i in range(config.n_patients)]
    schematic = [
        (config, i, folder, "schematic")
        for i in range(config.n_patients)
        if config.group_of(i).split != "train" or i % 2 == 0
    ]
    return films + schematic


def _run(jobs: List[tuple], workers: int, progress: bool) -> Iterable[dict]:
    bar = dict(total=len(jobs), disable=not progress, desc="phantom", unit="patient")
    if workers <= 1:
        yield from tqdm(map(_write_one, jobs), **bar)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from tqdm(pool.imap(_write_one, jobs, chunksize=4), **bar)


def _write_tables(folder: Path, config: PhantomConfig, records: List[dict]) -> dict:
    result = ceiling(records)
    result["seed"] = config.seed
    labels = {r["summary"]["image_id"]: r["entry"] for r in records}
    (folder / "phantom_labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True))
    (folder / "ceiling.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in records:
            auc = result["auc"].get(r["split"])
            writer.writerow({**r["summary"], "ceiling_auc_of_split": "" if auc is None else f"{auc:.4f}"})
    return result


def write_cohort(
    out_dir,
    config: PhantomConfig,
    progress: bool = True,
    workers: int = 2,
    overwrite: bool = False,
    style: str = "schematic",
) -> Path:
    """Generate and write the whole cohort to ``out_dir`` (created; must not exist unless ``overwrite``).

    Output is byte-identical for the same config and style whatever ``workers`` is. ``style``: ``"schematic"``
    (the default phantom), ``"film"`` (``lib.phantom.film``: the same patients drawn and exposed like real
    films) or ``"mixed"`` (both drawings; see ``_jobs``). Returns the folder path.
    """
    if style not in STYLES:
        raise BadParameterError(f"style: must be one of {list(STYLES)}, got {style!r}")
    out = Path(out_dir).resolve()
    if out.exists() and not overwrite:
        raise BadParameterError(f"out_dir: {out} already exists; choose a new folder or pass overwrite=True")
    if not isinstance(workers, int) or not 1 <= workers <= 64:
        raise BadParameterError(f"workers: must be an integer in [1, 64], got {workers!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "labels" / "final").mkdir(parents=True)
    try:
        jobs = _jobs(config, str(tmp), style)
        records = list(_run(jobs, workers, progress))
        result = _write_tables(tmp, config, records)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # only left when something failed before the rename
    log.info("wrote %d phantom patients to %s (ceiling AUC %s)", config.n_patients, out, result["auc"])
    return out


def write_protocol(
    out_dir,
    seed: int = 0,
    progress: bool = True,
    workers: int = 2,
    overwrite: bool = False,
    prevalence: Optional[float] = None,
) -> Path:
    """The study protocol cohort (480/60/60 internal, 60 external) written to ``out_dir``."""
    config = protocol_config(seed) if prevalence is None else protocol_config(seed, prevalence=prevalence)
    return write_cohort(out_dir, config, progress=progress, workers=workers, overwrite=overwrite)
