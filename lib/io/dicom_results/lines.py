"""Where each measured line lies on the film: the endpoints ``lib.anatomy.measurements`` measures between.

Pure functions on the landmarks (pixel ``[x, y]``, x = column, y = row, per level name with the four body corners
and optionally ``spinolaminar``), so a report can draw every value where it was measured:
- canal diameter (and the Torg-Pavlov ratio's numerator): from the posterior wall's midpoint to the
  spinolaminar point;
- body depth (the ratio's denominator): from the posterior wall's midpoint to the anterior wall's midpoint;
- disc heights: anterior from the upper body's anterior-inferior to the lower body's anterior-superior corner,
  posterior likewise, middle between the midpoints of the upper body's inferior and the lower body's superior
  endplate.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from lib.anatomy.names import CORNERS, SEGMENTS, VERTEBRAE, segment_bodies

Line = tuple[tuple[float, float], tuple[float, float]]


def _point(landmarks: Mapping, level: str, name: str) -> np.ndarray:
    return np.asarray(landmarks[level][name], dtype=np.float64)


def _mid(landmarks: Mapping, level: str, a: str, b: str) -> np.ndarray:
    return 0.5 * (_point(landmarks, level, a) + _point(landmarks, level, b))


def _line(p: np.ndarray, q: np.ndarray) -> Line:
    return (float(p[0]), float(p[1])), (float(q[0]), float(q[1]))


def _has(landmarks: Mapping, level: str, names: Sequence[str] = CORNERS) -> bool:
    return level in landmarks and all(n in landmarks[level] for n in names)


def level_lines(landmarks: Mapping) -> dict[str, dict[str, Line]]:
    """``{level: {"canal": line, "body_depth": line}}`` for levels with all four corners (canal: with the
    spinolaminar point too)."""
    out = {}
    for level in VERTEBRAE:
        if not _has(landmarks, level):
            continue
        back = _mid(landmarks, level, "posterior_superior", "posterior_inferior")
        front = _mid(landmarks, level, "anterior_superior", "anterior_inferior")
        lines = {"body_depth": _line(back, front)}
        if "spinolaminar" in landmarks[level]:
            lines["canal"] = _line(back, _point(landmarks, level, "spinolaminar"))
        out[level] = lines
    return out


def disc_lines(landmarks: Mapping) -> dict[str, dict[str, Line]]:
    """``{segment: {"anterior", "middle", "posterior": line}}`` for segments whose two bodies have all corners;
    each line runs from the upper body to the lower."""
    out = {}
    for segment in SEGMENTS:
        upper, lower = segment_bodies(segment)
        if not (_has(landmarks, upper) and _has(landmarks, lower)):
            continue
        out[segment] = {
            "anterior": _line(
                _point(landmarks, upper, "anterior_inferior"), _point(landmarks, lower, "anterior_superior")
            ),
            "middle": _line(
                _mid(landmarks, upper, "anterior_inferior", "posterior_inferior"),
                _mid(landmarks, lower, "anterior_superior", "posterior_superior"),
            ),
            "posterior": _line(
                _point(landmarks, upper, "posterior_inferior"), _point(landmarks, lower, "posterior_superior")
            ),
        }
    return out
