"""Timing of ``evaluate`` on simulated data: 60 patients x 5 segments, 2,000 bootstrap replicates, two readers."""

from __future__ import annotations

import csv
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from lib.anatomy.names import SEGMENTS
from lib.evaluation.evaluate import evaluate

log = logging.getLogger(__name__)
TARGET_S = 10.0


def simulate_csvs(folder, n_patients: int = 60, seed: int = 0) -> dict:
    """Write predictions.csv, reference.csv and readers.csv of a binormal model and two ~70%-accurate readers."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    paths = {k: folder / f"{k}.csv" for k in ("predictions", "reference", "readers")}
    with (
        paths["predictions"].open("w", newline="") as fp,
        paths["reference"].open("w", newline="") as fr,
        paths["readers"].open("w", newline="") as fc,
    ):
        wp, wr, wc = csv.writer(fp), csv.writer(fr), csv.writer(fc)
        wp.writerow(["patient_id", "segment", "probability"])
        wr.writerow(["patient_id", "segment", "compression", "kang"])
        wc.writerow(["reader", "patient_id", "segment", "call"])
        for i in range(n_patients):
            for seg in SEGMENTS:
                y = int(rng.random() < 0.5)
                logit = rng.normal(2.4 if y else -2.4, 1.6)  # about 93% accurate at 0.5, as published
                wp.writerow([f"P{i:03d}", seg, f"{1 / (1 + np.exp(-logit)):.6f}"])
                wr.writerow([f"P{i:03d}", seg, y, int(rng.integers(1, 4)) if y else int(rng.integers(0, 2))])
                for reader in ("surgeon 1", "surgeon 2"):
                    if rng.random() < 0.95:  # each reader leaves a few segments unread
                        wc.writerow([reader, f"P{i:03d}", seg, y if rng.random() < 0.7 else 1 - y])
    return paths


def run_benchmark(n_patients: int = 60, n_bootstrap: int = 2000, seed: int = 0) -> dict:
    """Time one full ``evaluate`` (statistics, summary.json, report.html) on simulated data.

    Returns ``{"seconds", "segments", "patients", "n_bootstrap", "target_seconds", "within_target"}``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        paths = simulate_csvs(tmp, n_patients, seed)
        start = time.perf_counter()
        evaluate(
            paths["predictions"],
            paths["reference"],
            Path(tmp) / "out",
            readers_csv=paths["readers"],
            n_bootstrap=n_bootstrap,
            seed=seed,
            progress=False,
        )
        seconds = time.perf_counter() - start
    log.info("evaluate: %d segments, %d replicates in %.2f s", n_patients * len(SEGMENTS), n_bootstrap, seconds)
    return {
        "seconds": round(seconds, 3),
        "segments": n_patients * len(SEGMENTS),
        "patients": n_patients,
        "n_bootstrap": n_bootstrap,
        "target_seconds": TARGET_S,
        "within_target": seconds < TARGET_S,
    }
