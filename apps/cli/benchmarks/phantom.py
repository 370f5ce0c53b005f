"""Benchmark of the phantom: speed, determinism, realism of normal anatomy, prevalence, ceiling, a figure."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from lib.anatomy.names import SEGMENTS
from lib.phantom.case import generate_patient
from lib.phantom.cohort import write_cohort
from lib.phantom.config import cohort_config, protocol_config

log = logging.getLogger(__name__)
# Pavlov 1987 / clinical.md: film canal about 15-17 mm at C3-C6, Torg-Pavlov ratio about 1.0 when normal.
PUBLISHED_NORMAL = {"canal_diameter_mm": (15.0, 17.0), "torg_pavlov_ratio": (0.8, 1.2)}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _determinism(cohort: Path, seed: int, indices=(0, 1, 600)) -> dict:
    """Regenerate a few patients in one process and compare DICOM and label bytes with the cohort's."""
    config = protocol_config(seed)
    with tempfile.TemporaryDirectory() as tmp:
        from lib.phantom.cohort import _write_one  # the same writer the pool used

        same = True
        for index in indices:
            image_id = _write_one((config, index, tmp))["summary"]["image_id"]
            for rel in (f"{image_id}.dcm", f"labels/final/{image_id}.nii.gz"):
                same &= _digest(Path(tmp) / rel) == _digest(cohort / rel)
    return {"patients_checked": list(indices), "byte_identical": bool(same)}


def _normal_distributions(labels: dict) -> dict:
    """Canal diameter and Torg-Pavlov ratio at C3-C6 of levels whose adjacent segments are Kang 0."""
    canal, tpr = [], []
    for entry in labels.values():
        for level in ("C3", "C4", "C5", "C6"):
            around = [s for s in SEGMENTS if level in (s.split("/")[0], "C" + s.split("/")[1])]
            if any(entry["segments"][s]["kang"] > 0 for s in around) or level not in entry["measurements"]["levels"]:
                continue
            row = entry["measurements"]["levels"][level]
            canal.append(row["canal_diameter_mm"])
            tpr.append(row["torg_pavlov_ratio"])
    out = {}
    for name, values in (("canal_diameter_mm", canal), ("torg_pavlov_ratio", tpr)):
        v = np.array(values, dtype=float)
        out[name] = {
            "n": int(v.size),
            "mean": float(v.mean()),
            "sd": float(v.std()),
            "p5": float(np.percentile(v, 5)),
            "p95": float(np.percentile(v, 95)),
            "published_normal": PUBLISHED_NORMAL[name],
        }
    return out


def _prevalence(labels: dict) -> dict:
    out = {}
    for segment in SEGMENTS:
        values = [e["segments"][segment]["compression"] for e in labels.values() if e["segments"][segment]["evaluable"]]
        out[segment] = float(np.mean(values)) if values else None
    out["all"] = float(
        np.mean([s["compression"] for e in labels.values() for s in e["segments"].values() if s["evaluable"]])
    )
    return out


def realism_figure(path, seed: int = 0) -> Path:
    """PNG of two phantoms per centre beside their level masks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 11))
    for row, centre in enumerate(("internal", "external")):
        config = cohort_config(patients=2, seed=seed, centre=centre, validation_fraction=0, test_fraction=0)
        for k in range(2):
            case = generate_patient(config, k)
            axes[row, 2 * k].imshow(case.image, cmap="gray")
            axes[row, 2 * k].set_title(f"{centre} {case.spec.curvature} ({case.image.shape[1]}x{case.image.shape[0]})")
            axes[row, 2 * k + 1].imshow(case.image, cmap="gray")
            axes[row, 2 * k + 1].imshow(np.ma.masked_equal(case.mask, 0), cmap="tab10", alpha=0.5, vmin=0, vmax=9)
            axes[row, 2 * k + 1].set_title("level mask C2..C7 + canal")
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


def run_benchmark(
    out_dir, seed: int = 0, figure_path: Optional[str] = None, workers: int = 2, progress: bool = True
) -> dict:
    """Generate the protocol cohort in ``out_dir`` (must not exist), time it and check it; returns a JSON-ready dict."""
    start = time.perf_counter()
    cohort = write_cohort(out_dir, protocol_config(seed), progress=progress, workers=workers)
    seconds = time.perf_counter() - start
    labels = json.loads((cohort / "phantom_labels.json").read_text())
    result = {
        "patients": len(labels),
        "seconds": round(seconds, 1),
        "seconds_per_patient": round(seconds / len(labels), 3),
        "workers": workers,
        "determinism": _determinism(cohort, seed),
        "normal_segments": _normal_distributions(labels),
        "prevalence": _prevalence(labels),
        "c7_hidden_fraction": {
            c: float(np.mean([("C7" not in e["annotated_levels"]) for e in labels.values() if e["centre"] == c]))
            for c in ("internal", "external")
        },
        "ceiling": json.loads((cohort / "ceiling.json").read_text()),
    }
    if figure_path:
        result["figure"] = str(realism_figure(figure_path, seed))
    log.info("phantom benchmark: %s", json.dumps(result))
    return result
