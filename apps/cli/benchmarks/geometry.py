"""``python main.py benchmark geometry``: post-processing, landmarks and segment crops timed on a phantom mask."""

from __future__ import annotations

import logging
import time
from typing import Tuple

import numpy as np

from lib.anatomy.geometry import SegmentCrop, extract_crop, locate_segments
from lib.anatomy.landmarks import estimate_landmarks
from lib.anatomy.levels import clean_levels
from lib.phantom.config import cohort_config
from lib.phantom.patient import sample_patient
from lib.phantom.truth import level_mask

logger = logging.getLogger(__name__)


def run_benchmark(repeats: int = 5, out_size: Tuple[int, int] = (128, 256)) -> dict:
    """Time post-processing + landmarks + five crops on phantom masks (~1200 x 930 px); milliseconds, best run."""
    spec = sample_patient(cohort_config(patients=1, seed=1), 0)
    mask = level_mask(spec)
    spacing = (spec.spacing_mm, spec.spacing_mm)
    image = np.random.default_rng(0).random(mask.shape, dtype=np.float32)
    timings = {"clean_levels": [], "landmarks": [], "crops": [], "total": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        report = clean_levels(mask, spacing_mm=spacing)
        t1 = time.perf_counter()
        marks = estimate_landmarks(report.label_map, spacing, report)
        t2 = time.perf_counter()
        crops = locate_segments(report.label_map, spacing, marks, report)
        for crop in crops.values():
            if isinstance(crop, SegmentCrop):
                extract_crop(image, crop, out_size)
        t3 = time.perf_counter()
        for name, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            timings[name].append(1000.0 * dt)
    result = {f"{k}_ms": round(min(v), 2) for k, v in timings.items()}
    result["mask_shape"] = list(mask.shape)
    logger.info("geometry benchmark: %s", result)
    return result
