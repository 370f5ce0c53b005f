"""``python main.py benchmark pipeline``: time per radiograph and measurement error of the whole pipeline.

Time: one ``pipeline.run`` per image (read DICOM, levels, landmarks, measurements, crops, compression, Grad-CAM,
heatmap) after a warm-up, in this process with 2 torch threads; file writing and HTTP excluded.
Measurement error: canal diameter and Torg-Pavlov ratio from the pipeline's own landmarks against the phantom's
true values (detector-plane mm, as the phantom stores them) on the internal test split (``--split`` for another);
the same from the landmarks of the level mask alone (before the landmark refiner) shows what the refiner adds.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from apps.cli.predict import build_pipeline
from apps.datastores.local import RadiographDatastore
from apps.paths import APP_DIR
from lib.anatomy.measurements import level_measurements
from lib.core.errors import BadParameterError
from lib.results.pipeline import detector_spacing_mm


def _true_levels(info: dict) -> dict:
    return ((info.get("phantom") or {}).get("measurements") or {}).get("levels") or {}


def _measured_levels(result: dict) -> dict:
    """``{level: row}`` from the pipeline JSON (each segment repeats its two levels' rows)."""
    rows = {}
    for entry in result.get("segments", {}).values():
        rows.update(((entry.get("measurements") or {}).get("levels")) or {})
    return rows


def _mask_only_levels(data: dict) -> dict:
    """Level measurements from the mask's landmarks, at the spacing the pipeline measured with."""
    radiograph = data["result"]["radiograph"]
    spacing, _ = detector_spacing_mm(
        radiograph["spacing_mm"], radiograph["spacing_source"], radiograph["magnification"]
    )
    return level_measurements(data.get("mask_landmarks") or {}, spacing)


def _errors(measured: dict, truth: dict, key: str) -> list[float]:
    out = []
    for level, row in measured.items():
        value, true = (row or {}).get(key), (truth.get(level) or {}).get(key)
        if value is not None and true is not None:
            out.append(abs(float(value) - float(true)))
    return out


def _mean(values: list, digits: int):
    return round(float(np.mean(values)), digits) if values else None


def run_pipeline_benchmark(args) -> dict:
    import torch

    torch.set_num_threads(2)
    studies = Path(args.studies or APP_DIR / "data" / "protocol")
    conf = {"model_dir": str(args.model_dir)} if getattr(args, "model_dir", None) else {}
    pipeline, settings = build_pipeline(conf, APP_DIR)
    store = RadiographDatastore(
        str(studies), max_image_pixels=settings.max_image_pixels, auto_reload=False, read_only=True
    )
    split = getattr(args, "split", None) or "test_internal"
    ids = [i for i in sorted(store.list_images()) if store.get_image_info(i).get("split") == split]
    if not ids:
        raise BadParameterError(f"no images of split {split!r} in {studies}")
    ids = ids[: getattr(args, "limit", None) or len(ids)]
    pipeline.run({"image": store.get_image_uri(ids[0])})  # loads both networks
    seconds, stages, canal, ratio, found = [], [], [], [], 0
    mask_canal, mask_ratio = [], []
    for image_id in ids:
        started = time.perf_counter()
        data = pipeline.run({"image": store.get_image_uri(image_id)})
        seconds.append(time.perf_counter() - started)
        stages.append(data["timings_ms"])
        result = data["result"]
        found += int(bool(result.get("cervical_spine_found")))
        truth = _true_levels(store.get_image_info(image_id))
        measured, mask_only = _measured_levels(result), _mask_only_levels(data)
        canal += _errors(measured, truth, "canal_diameter_mm")
        ratio += _errors(measured, truth, "torg_pavlov_ratio")
        mask_canal += _errors(mask_only, truth, "canal_diameter_mm")
        mask_ratio += _errors(mask_only, truth, "torg_pavlov_ratio")
    return {
        "studies": str(studies),
        "split": split,
        "images": len(ids),
        "cervical_spine_found": found,
        "seconds_per_image": {
            "median": round(statistics.median(seconds), 3),
            "p90": round(float(np.percentile(seconds, 90)), 3),
            "max": round(max(seconds), 3),
        },
        "stage_ms_median": {
            k: round(statistics.median(s[k] for s in stages if k in s), 1)
            for k in ("levels", "measurements", "compression", "total")
            if any(k in s for s in stages)
        },
        "canal_diameter_mae_mm": _mean(canal, 3),
        "canal_diameter_levels_compared": len(canal),
        "torg_pavlov_ratio_mae": _mean(ratio, 4),
        "measurement_landmarks": result.get("measurement_landmarks", ""),
        "mask_only": {
            "canal_diameter_mae_mm": _mean(mask_canal, 3),
            "torg_pavlov_ratio_mae": _mean(mask_ratio, 4),
            "levels_compared": len(mask_canal),
        },
        "threads": 2,
    }
