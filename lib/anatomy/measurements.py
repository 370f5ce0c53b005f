"""Radiographic measurements of the cervical spine from landmarks on a lateral radiograph.

Pure functions, independent of how the landmarks were found (phantom ground truth or a model's masks).
Landmarks are pixel coordinates ``[x, y]`` (x = column, y = row, floats) per level name ``"C2"`` .. ``"C7"``,
each with the four body corners ``anterior_superior``, ``anterior_inferior``, ``posterior_superior``,
``posterior_inferior`` and optionally ``spinolaminar``. ``spacing_mm`` is ``(row_mm, col_mm)`` or ``None`` when the
spacing is unknown: then every ``*_mm`` value is ``None`` while ratios and angles are still computed.

Millimetre thresholds in the literature were defined on magnified film; pass the detector (imager) spacing to
compare with them, or the magnification-corrected spacing for true anatomical size, and record which one was used.
Angles are signed so that lordosis (extension) is positive whichever way the patient faces.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np

from lib.anatomy.names import CORNERS, SEGMENTS, VERTEBRAE

# Pavlov et al. 1987 / clinical.md: canal below 13 mm relative stenosis, below 10 mm absolute stenosis (film mm).
CANAL_RELATIVE_STENOSIS_MM = 13.0
CANAL_ABSOLUTE_STENOSIS_MM = 10.0
# Pavlov 1987: Torg-Pavlov ratio below 0.8 suggests developmental stenosis.
TORG_PAVLOV_STENOSIS = 0.8
# Disc middle height 5.8 +/- 1.3 mm at C5/6 (clinical.md); below mean - 2 SD (about 3.2 mm) is called narrowed here.
DISC_MIDDLE_NARROW_MM = 3.2
# Listhesis of 2 mm or more is degenerative; over 3.5 mm or over 20 % of body depth unstable (White and Panjabi).
LISTHESIS_DEGENERATIVE_MM = 2.0
LISTHESIS_UNSTABLE_MM = 3.5
LISTHESIS_UNSTABLE_PCT = 20.0
# White and Panjabi: a segmental angle more than 11 degrees beyond a neighbouring segment is unstable.
SEGMENTAL_ANGLE_EXCESS_DEG = 11.0

Point = Sequence[float]
Landmarks = Mapping[str, Mapping[str, Point]]


def _to_mm(vector_px: np.ndarray, spacing_mm: Optional[Sequence[float]]) -> Optional[float]:
    """Length in mm of an ``[dx, dy]`` pixel vector; None when spacing is unknown."""
    if spacing_mm is None:
        return None
    row_mm, col_mm = float(spacing_mm[0]), float(spacing_mm[1])
    return float(math.hypot(vector_px[0] * col_mm, vector_px[1] * row_mm))


def _pt(landmarks: Landmarks, level: str, name: str) -> np.ndarray:
    return np.asarray(landmarks[level][name], dtype=np.float64)


def _has(landmarks: Landmarks, level: str, names: Sequence[str] = CORNERS) -> bool:
    return level in landmarks and all(n in landmarks[level] for n in names)


def _facing_sign(landmarks: Landmarks, level: str) -> float:
    """+1 when the patient faces left (anterior towards smaller x), -1 when facing right."""
    dx = _pt(landmarks, level, "anterior_inferior")[0] - _pt(landmarks, level, "posterior_inferior")[0]
    return 1.0 if dx < 0 else -1.0


def _signed_angle_deg(a: np.ndarray, b: np.ndarray, facing: float) -> float:
    """Angle from image vector a to b in degrees, positive in the extension (lordotic) sense."""
    cross = a[0] * b[1] - a[1] * b[0]
    return float(math.degrees(math.atan2(cross, float(np.dot(a, b)))) * facing)


def _wall_mid(landmarks: Landmarks, level: str, side: str) -> np.ndarray:
    return 0.5 * (_pt(landmarks, level, f"{side}_superior") + _pt(landmarks, level, f"{side}_inferior"))


def level_measurements(landmarks: Landmarks, spacing_mm: Optional[Sequence[float]]) -> dict:
    """Per level: body depth, sagittal canal diameter (Pavlov) and Torg-Pavlov ratio.

    Returns ``{level: {"body_depth_mm", "canal_diameter_mm", "torg_pavlov_ratio", "canal_relative_stenosis",
    "canal_absolute_stenosis", "torg_pavlov_stenosis"}}`` for levels whose corners are present; canal values need
    the ``spinolaminar`` point. Judgements are None when their value is None.
    """
    out = {}
    for level in VERTEBRAE:
        if not _has(landmarks, level):
            continue
        depth_px = _wall_mid(landmarks, level, "anterior") - _wall_mid(landmarks, level, "posterior")
        row = {"body_depth_mm": _to_mm(depth_px, spacing_mm), "canal_diameter_mm": None, "torg_pavlov_ratio": None}
        if "spinolaminar" in landmarks[level]:
            canal_px = _pt(landmarks, level, "spinolaminar") - _wall_mid(landmarks, level, "posterior")
            row["canal_diameter_mm"] = _to_mm(canal_px, spacing_mm)
            # The ratio cancels magnification and spacing, so it is defined even when spacing is unknown.
            row["torg_pavlov_ratio"] = float(np.hypot(*canal_px) / max(np.hypot(*depth_px), 1e-9))
        canal = row["canal_diameter_mm"]
        row["canal_relative_stenosis"] = None if canal is None else canal < CANAL_RELATIVE_STENOSIS_MM
        row["canal_absolute_stenosis"] = None if canal is None else canal < CANAL_ABSOLUTE_STENOSIS_MM
        tpr = row["torg_pavlov_ratio"]
        row["torg_pavlov_stenosis"] = None if tpr is None else tpr < TORG_PAVLOV_STENOSIS
        out[level] = row
    return out


def _disc_heights(landmarks: Landmarks, upper: str, lower: str, spacing_mm) -> dict:
    ant = _pt(landmarks, upper, "anterior_inferior") - _pt(landmarks, lower, "anterior_superior")
    post = _pt(landmarks, upper, "posterior_inferior") - _pt(landmarks, lower, "posterior_superior")
    mid_upper = 0.5 * (_pt(landmarks, upper, "anterior_inferior") + _pt(landmarks, upper, "posterior_inferior"))
    mid_lower = 0.5 * (_pt(landmarks, lower, "anterior_superior") + _pt(landmarks, lower, "posterior_superior"))
    middle_mm = _to_mm(mid_upper - mid_lower, spacing_mm)
    return {
        "disc_height_anterior_mm": _to_mm(ant, spacing_mm),
        "disc_height_middle_mm": middle_mm,
        "disc_height_posterior_mm": _to_mm(post, spacing_mm),
        "disc_narrowed": None if middle_mm is None else middle_mm < DISC_MIDDLE_NARROW_MM,
    }


def _listhesis(landmarks: Landmarks, upper: str, lower: str, spacing_mm) -> dict:
    """Signed translation of the upper posterior-inferior corner from the lower posterior wall line.

    Positive is anterolisthesis (towards the lower body's anterior wall). Percent is of the lower body's
    mid-height depth, so it is defined without spacing.
    """
    wall_top = _pt(landmarks, lower, "posterior_superior")
    wall_dir = _pt(landmarks, lower, "posterior_inferior") - wall_top
    wall_dir = wall_dir / max(np.hypot(*wall_dir), 1e-9)
    offset = _pt(landmarks, upper, "posterior_inferior") - wall_top
    perp = offset - np.dot(offset, wall_dir) * wall_dir
    depth_vec = _wall_mid(landmarks, lower, "anterior") - _wall_mid(landmarks, lower, "posterior")
    sign = 1.0 if np.dot(perp, depth_vec) >= 0 else -1.0
    pct = float(sign * 100.0 * np.hypot(*perp) / max(np.hypot(*depth_vec), 1e-9))
    length_mm = _to_mm(perp, spacing_mm)
    mm = None if length_mm is None else sign * length_mm
    return {
        "listhesis_mm": mm,
        "listhesis_pct": pct,
        "listhesis_degenerative": None if mm is None else abs(mm) >= LISTHESIS_DEGENERATIVE_MM,
        "listhesis_unstable": abs(pct) > LISTHESIS_UNSTABLE_PCT or (mm is not None and abs(mm) > LISTHESIS_UNSTABLE_MM),
    }


def _endplate(landmarks: Landmarks, level: str, which: str) -> np.ndarray:
    """Image vector from the posterior to the anterior corner of the superior or inferior endplate."""
    return _pt(landmarks, level, f"anterior_{which}") - _pt(landmarks, level, f"posterior_{which}")


def segment_measurements(landmarks: Landmarks, spacing_mm: Optional[Sequence[float]]) -> dict:
    """Per segment ``"C2/3"`` ..: disc heights, listhesis and segmental (disc) angle.

    Only segments whose two bodies have all four corners are returned. ``segmental_angle_deg`` is the angle between
    the upper body's inferior and the lower body's superior endplate, positive when lordotic;
    ``segmental_angle_unstable``
    compares it with the neighbouring segments.
    """
    out = {}
    for segment in SEGMENTS:
        upper, lower = segment.split("/")[0], "C" + segment.split("/")[1]
        if not (_has(landmarks, upper) and _has(landmarks, lower)):
            continue
        facing = _facing_sign(landmarks, lower)
        row = _disc_heights(landmarks, upper, lower, spacing_mm)
        row.update(_listhesis(landmarks, upper, lower, spacing_mm))
        angle = _signed_angle_deg(
            _endplate(landmarks, lower, "superior"), _endplate(landmarks, upper, "inferior"), facing
        )
        row["segmental_angle_deg"] = angle
        out[segment] = row
    names = [s for s in SEGMENTS if s in out]
    for i, segment in enumerate(names):
        neighbours = [out[names[j]]["segmental_angle_deg"] for j in (i - 1, i + 1) if 0 <= j < len(names)]
        angle = out[segment]["segmental_angle_deg"]
        out[segment]["segmental_angle_unstable"] = any(angle - n > SEGMENTAL_ANGLE_EXCESS_DEG for n in neighbours)
    return out


def cervical_lordosis_deg(landmarks: Landmarks) -> Optional[float]:
    """C2-C7 Cobb angle between the C2 and C7 inferior endplates in degrees; negative is kyphosis; None if absent."""
    if not (_has(landmarks, "C2") and _has(landmarks, "C7")):
        return None
    facing = _facing_sign(landmarks, "C7")
    return _signed_angle_deg(_endplate(landmarks, "C7", "inferior"), _endplate(landmarks, "C2", "inferior"), facing)


def all_measurements(landmarks: Landmarks, spacing_mm: Optional[Sequence[float]]) -> dict:
    """Everything above in one JSON-ready dict: ``{"levels", "segments", "c2_c7_lordosis_deg", "kyphosis"}``."""
    lordosis = cervical_lordosis_deg(landmarks)
    return {
        "levels": level_measurements(landmarks, spacing_mm),
        "segments": segment_measurements(landmarks, spacing_mm),
        "c2_c7_lordosis_deg": lordosis,
        # clinical.md: C2-C7 lordosis about 14 +/- 12 degrees; negative is kyphosis.
        "kyphosis": None if lordosis is None else lordosis < 0,
        "spacing_known": spacing_mm is not None,
    }
