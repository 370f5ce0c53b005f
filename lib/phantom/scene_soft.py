"""Soft tissue path lengths of the neck, airway and shoulders, computed row by row over the whole image."""

from __future__ import annotations

import numpy as np

from lib.phantom.anatomy import BODY_LEVELS
from lib.phantom.patient import PatientSpec


def _row_profile(spec: PatientSpec, points_mm: list, rows: np.ndarray) -> np.ndarray:
    """Column (px) of an anatomical polyline at each row, held constant beyond its ends."""
    px = spec.to_px(np.array(points_mm))
    order = np.argsort(px[:, 1])
    return np.interp(rows, px[order, 1], px[order, 0])


def _ellipse_chord(cols: np.ndarray, front: np.ndarray, back: np.ndarray, width_mm: np.ndarray) -> np.ndarray:
    """Path length (mm) through a tube whose sagittal section spans columns front..back at each row."""
    mid = 0.5 * (front + back)[:, None]
    half = np.maximum(0.5 * (back - front), 1.0)[:, None]
    s = (cols[None, :] - mid) / half
    return width_mm[:, None] * np.sqrt(np.clip(1.0 - s * s, 0.0, None))


def soft_tissue_mm(spec: PatientSpec) -> np.ndarray:
    """Soft-tissue-equivalent path length (mm) per pixel, float32 [rows, cols]: neck + shoulders - airway."""
    n_rows, n_cols = spec.shape_px
    rows = np.arange(n_rows, dtype=np.float64)
    cols = np.arange(n_cols, dtype=np.float32)
    a, s = spec.acquisition, spec.px_per_mm
    bodies = [spec.spine.bodies[lv] for lv in BODY_LEVELS]
    anterior = _row_profile(
        spec, [b.corners[k] for b in bodies for k in ("anterior_superior", "anterior_inferior")], rows
    )
    laminar = _row_profile(spec, [b.spinolaminar for b in bodies], rows)
    c2_row = spec.to_px(spec.spine.bodies["C2"].posterior_mid)[1]
    c4_row = spec.to_px(spec.spine.bodies["C4"].posterior_mid)[1]
    c6_row = spec.to_px(spec.spine.bodies["C6"].posterior_mid)[1]
    # Above C2 the face and skull widen the soft tissue in every direction.
    head = np.clip((c2_row - rows) / (40.0 * s), 0.0, 1.0)
    front = anterior - (a["neck_front_mm"] + 70.0 * head) * s
    back = laminar + (a["neck_back_mm"] + 25.0 + 20.0 * head) * s
    width = a["neck_width_mm"] + 40.0 * head
    tissue = _ellipse_chord(cols, front, back, width)
    # Prevertebral stripe 3-7 mm at C2-C4 (clinical.md), wider below C5 where the oesophagus lies behind the airway.
    stripe = 4.5 + 9.0 * np.clip((rows - c4_row) / max(c6_row - c4_row, 1.0), 0.0, 1.0)
    airway_back = anterior - stripe * s
    airway_front = airway_back - a["airway_ap_mm"] * s
    tissue -= _ellipse_chord(cols, airway_front, airway_back, np.full(n_rows, 20.0))
    shoulders = spec.shoulder_weight(cols[None, :], rows[:, None].astype(np.float32))
    tissue += a["shoulder_tissue_mm"] * shoulders
    return np.clip(tissue, 0.0, None).astype(np.float32)
