"""Soft tissue of a film-style patient, computed in the patient's frame so that facing and rotation come free.

Neck as a tube between the front of the neck and the back of it, widening into the head above C2; the airway
(pharynx, then trachea) as a dark column in front of the prevertebral stripe, its calibre varying along its
length; the shoulders as a dense rounded mass below a curved edge
(``FilmSpec.shoulder_weight``). Path lengths in mm, float32 [rows, cols].
"""

from __future__ import annotations

import numpy as np

from lib.phantom.anatomy import BODY_LEVELS
from lib.phantom.film.head import mandible_film_outline
from lib.phantom.film.spec import FilmSpec


def patient_grid(spec: FilmSpec) -> np.ndarray:
    """float32 [rows, cols, 2]: each pixel centre's (x anterior, y up) mm in the patient frame."""
    rows, cols = spec.shape_px
    r, c = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64), indexing="ij")
    return spec.to_mm(np.stack([c, r], axis=-1)).astype(np.float32)


def _profile(points: list, y: np.ndarray) -> np.ndarray:
    """x of a polyline (patient frame) at heights y, held constant beyond its ends."""
    pts = np.array(points)
    order = np.argsort(pts[:, 1])
    return np.interp(y, pts[order, 1], pts[order, 0])


def _tube(x: np.ndarray, front: np.ndarray, back: np.ndarray, width: np.ndarray) -> np.ndarray:
    mid, half = 0.5 * (front + back), np.maximum(0.5 * (front - back), 0.5)
    s = (x - mid) / half
    return width * np.sqrt(np.clip(1.0 - s * s, 0.0, None))


def film_soft_tissue_mm(spec: FilmSpec, grid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soft-tissue-equivalent path length (mm) per pixel: neck and head, minus the airway, plus the shoulders."""
    a = spec.acquisition
    x, y = grid[..., 0].astype(np.float64), grid[..., 1].astype(np.float64)
    bodies = [spec.spine.bodies[lv] for lv in BODY_LEVELS]
    # The front of the bodies as a smooth line through the anterior wall mid-points (the airway follows it).
    anterior = _profile([0.5 * (b.corners["anterior_superior"] + b.corners["anterior_inferior"]) for b in bodies], y)
    laminar = _profile([b.spinolaminar for b in bodies], y)
    c2, c4, c6 = (spec.spine.bodies[lv].posterior_mid[1] for lv in ("C2", "C4", "C6"))
    head = np.clip((y - c2) / 40.0, 0.0, 1.0)
    front = anterior + a["neck_front_mm"] + 40.0 * head
    back = laminar - (a["neck_back_mm"] + 20.0 + 25.0 * head)
    width = a["neck_width_mm"] + 45.0 * head
    tissue = _tube(x, front, back, width)
    # The floor of the mouth, the jaw and the chin in front of C2-C3, reaching past the mandible: a tube of its
    # own, so the neck's profile behind it does not change where it starts.
    chin = np.clip((y - mandible_low_mm(spec)) / 12.0, 0.0, 1.0)
    jaw_front = mandible_front_mm(spec) + 12.0
    tissue += _tube(x, np.full_like(x, jaw_front), anterior + 0.3 * a["neck_front_mm"], 0.45 * width) * chin
    # Prevertebral stripe 3-7 mm at C2-C4 (clinical.md), wider below C5 where the oesophagus lies behind the airway.
    stripe = 4.0 + 9.0 * np.clip((c4 - y) / max(c4 - c6, 1.0), 0.0, 1.0)
    wave = 1.0 + 0.25 * np.sin((y - c2) / rng.uniform(9.0, 16.0) + rng.uniform(0, 6.3))
    airway_back = anterior + stripe
    airway_front = airway_back + a["airway_ap_mm"] * wave
    airway_top = c2 + rng.uniform(15.0, 30.0)  # the nasopharynx closes above
    open_ = np.clip((airway_top - y) / 6.0, 0.0, 1.0)
    tissue -= _tube(x, airway_front, airway_back, np.full_like(x, 22.0)) * open_
    tissue += a["shoulder_tissue_mm"] * spec.shoulder_weight(*_pixel_axes(spec))
    return np.clip(tissue, 0.0, None).astype(np.float32)


def _mandible_outline(spec: FilmSpec) -> np.ndarray:
    return mandible_film_outline(spec.spine.bodies["C2"], spec.acquisition["jaw_forward_mm"])


def mandible_low_mm(spec: FilmSpec) -> float:
    """Height (patient frame) a little below the mandible's lowest point."""
    return float(_mandible_outline(spec)[:, 1].min() - 10.0)


def mandible_front_mm(spec: FilmSpec) -> float:
    """How far forward (patient frame) the mandible reaches."""
    return float(_mandible_outline(spec)[:, 0].max())


def _pixel_axes(spec: FilmSpec):
    rows, cols = spec.shape_px
    return np.arange(cols, dtype=np.float64)[None, :], np.arange(rows, dtype=np.float64)[:, None]
