"""Full-resolution patches for landmark refinement, and the geometry that turns a predicted offset into a landmark.

The level mask comes from a network that sees the film letterboxed to 320 x 256: one of its pixels is three to
four film pixels (about 0.5 mm), and the walls fitted to it scatter by about that much, which is as large as the
canal-diameter tolerance. The refiner (``lib.models.refiner``) looks at the film itself around three points per
vertebra and says how far along the body's antero-posterior axis the true line lies:

- ``posterior_wall``: the posterior body wall (front of the canal);
- ``anterior_wall``: the anterior body wall (with the posterior wall, the body depth of the Torg-Pavlov ratio);
- ``spinolaminar``: the spinolaminar line (back of the canal), taken parallel to the posterior wall.

A patch is sampled in the body's frame: columns run along ``u`` (towards the front of the body), rows along ``v``
(cranial up), so patients facing either way look the same. Its size is a share of the body depth, so the method is
independent of pixel spacing and magnification. Offsets are in body depths along ``u``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
from scipy import ndimage

from lib.anatomy.names import CORNERS

POINTS = ("posterior_wall", "anterior_wall", "spinolaminar")
PATCH_SIZE = 48  # samples per side
PATCH_SPAN = 0.4  # patch side in body depths: room for a 0.15-depth coarse error plus context either side


@dataclass(frozen=True)
class PointFrame:
    """Where one patch is sampled: ``centre`` (x, y px), unit axes ``u`` (anterior) and ``v`` (cranial), ``depth``
    (px, the patch scale) and which point of which level it refines."""

    level: str
    point: str
    centre: np.ndarray
    u: np.ndarray
    v: np.ndarray
    depth: float


def _pt(marks: Mapping, name: str) -> np.ndarray:
    return np.asarray(marks[name], dtype=np.float64)


def body_axes(marks: Mapping) -> tuple[np.ndarray, np.ndarray, float]:
    """(u, v, depth): ``u`` from the posterior to the anterior wall mid-point, ``v`` perpendicular and cranial."""
    post = 0.5 * (_pt(marks, "posterior_superior") + _pt(marks, "posterior_inferior"))
    ant = 0.5 * (_pt(marks, "anterior_superior") + _pt(marks, "anterior_inferior"))
    depth = float(np.hypot(*(ant - post)))
    u = (ant - post) / max(depth, 1e-9)
    v = np.array([-u[1], u[0]])
    if v @ (_pt(marks, "posterior_superior") - _pt(marks, "posterior_inferior")) < 0:
        v = -v
    return u, v, depth


def point_position(marks: Mapping, point: str) -> np.ndarray:
    """The image point (x, y) a patch of ``point`` is centred on."""
    if point == "posterior_wall":
        return 0.5 * (_pt(marks, "posterior_superior") + _pt(marks, "posterior_inferior"))
    if point == "anterior_wall":
        return 0.5 * (_pt(marks, "anterior_superior") + _pt(marks, "anterior_inferior"))
    return _pt(marks, "spinolaminar")


def point_frames(landmarks: Mapping[str, Mapping]) -> list[PointFrame]:
    """One frame per point of every level that has its four corners (and, for ``spinolaminar``, that point)."""
    frames = []
    for level, marks in landmarks.items():
        if not all(c in marks for c in CORNERS):
            continue
        u, v, depth = body_axes(marks)
        if depth < 4.0:
            continue
        for point in POINTS:
            if point == "spinolaminar" and "spinolaminar" not in marks:
                continue
            frames.append(PointFrame(level, point, point_position(marks, point), u, v, depth))
    return frames


def sample_patch(image: np.ndarray, frame: PointFrame, origin: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """float32 [PATCH_SIZE, PATCH_SIZE] patch, rows cranial to caudal, columns posterior to anterior, standardised.

    image: float [rows, cols] (the film, or a crop of it whose top-left pixel is at ``origin`` (x, y) on the film).
    """
    half = 0.5 * PATCH_SPAN * frame.depth
    steps = np.linspace(-half, half, PATCH_SIZE)
    a, b = np.meshgrid(steps, steps[::-1])  # rows: cranial (+v) at the top
    xs = frame.centre[0] + a * frame.u[0] + b * frame.v[0] - origin[0]
    ys = frame.centre[1] + a * frame.u[1] + b * frame.v[1] - origin[1]
    patch = ndimage.map_coordinates(image, [ys, xs], order=1, mode="nearest").astype(np.float32)
    return (patch - patch.mean()) / max(float(patch.std()), 1e-6)


def line_offset(frame: PointFrame, line_point: np.ndarray, line_direction: np.ndarray) -> Optional[float]:
    """Signed distance (body depths) along ``frame.u`` from the frame centre to a line; None when parallel."""
    matrix = np.column_stack([frame.u, -np.asarray(line_direction, dtype=np.float64)])
    if abs(np.linalg.det(matrix)) < 1e-9:
        return None
    t = np.linalg.solve(matrix, np.asarray(line_point, dtype=np.float64) - frame.centre)[0]
    return float(t / frame.depth)


def reference_line(marks: Mapping, point: str) -> tuple[np.ndarray, np.ndarray]:
    """(a point, direction) of the true line a ``point`` patch looks for, from reference landmarks."""
    wall = _pt(marks, "posterior_superior") - _pt(marks, "posterior_inferior")
    if point == "anterior_wall":
        return point_position(marks, point), _pt(marks, "anterior_superior") - _pt(marks, "anterior_inferior")
    return point_position(marks, point), wall  # the spinolaminar line is taken parallel to the posterior wall


def apply_offsets(landmarks: Mapping[str, Mapping], offsets: Mapping[tuple, float]) -> dict:
    """Landmarks with walls moved by ``offsets[(level, point)]`` (body depths along ``u``) and the spinolaminar point
    put at the foot of the perpendicular from the refined posterior wall mid-point (Pavlov's canal diameter).

    Levels or points without an offset are kept as they are.
    """
    out = {level: {k: list(map(float, v)) for k, v in marks.items()} for level, marks in landmarks.items()}
    for level, marks in landmarks.items():
        if not all(c in marks for c in CORNERS):
            continue
        u, _, depth = body_axes(marks)
        for point, side in (("posterior_wall", "posterior"), ("anterior_wall", "anterior")):
            shift = offsets.get((level, point))
            if shift is not None:
                for end in ("superior", "inferior"):
                    out[level][f"{side}_{end}"] = list(map(float, _pt(marks, f"{side}_{end}") + shift * depth * u))
        shift = offsets.get((level, "spinolaminar"))
        if shift is not None and "spinolaminar" in marks:
            on_line = _pt(marks, "spinolaminar") + shift * depth * u
            ps, pi = _pt(out[level], "posterior_superior"), _pt(out[level], "posterior_inferior")
            mid, wall = 0.5 * (ps + pi), (ps - pi) / max(np.hypot(*(ps - pi)), 1e-9)
            normal = np.array([wall[1], -wall[0]])
            out[level]["spinolaminar"] = list(map(float, mid + float((on_line - mid) @ normal) * normal))
    return out
