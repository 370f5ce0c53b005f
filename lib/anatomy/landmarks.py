"""Vertebral landmarks from a cleaned level mask: the four body corners and the spinolaminar point per level.

Output has the format of ``lib.anatomy.measurements``:
``{level: {"anterior_superior": [x, y], ..., "spinolaminar": [x, y]}}``
in pixels (x = column, y = row, float). Each body is resampled into its local frame (``a`` towards the front,
``b`` cranial, 1 px steps, bilinear), its walls and endplates are found as sub-pixel 0.5 crossings, straight lines
are fitted to them robustly and the corners are their intersections. Walls and endplates are fitted only over
their middle part, so rounded corners of a predicted mask and the dens on top of C2 do not pull the lines.
The spinolaminar point is where a ray from the middle of the posterior wall, perpendicular to it, leaves the
spinal canal label at the back (Pavlov's canal diameter runs along that ray).
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np
from scipy import ndimage

from lib.anatomy.levels import LevelReport, clean_levels
from lib.anatomy.names import CANAL_ID, LEVEL_LABELS

logger = logging.getLogger(__name__)

BODY_ROW_MIN_WIDTH = 0.75  # rows narrower than this share of the widest row are dens or endplate rounding
WALL_FIT_SPAN = (0.2, 0.8)  # share of the body height whose wall points are fitted
ENDPLATE_FIT_MARGIN = 0.1  # share of the body depth left out at either end of an endplate
DENS_TOLERANCE = 0.15  # a column reaching this share of the body height above the body top is the dens
OPLL_GAP = 0.6  # the canal must start within this share of the body depth behind the wall (OPLL may sit between)
RAY_LENGTH_DEPTHS = 3.0  # the spinolaminar ray is followed this many body depths (phantom truth canals: 0.6-1.3)
RAY_STEP_PX = 0.25  # sampling step along that ray
MIN_BODY_AREA_PX = 50  # bodies with fewer mask pixels are not fitted
OUTLIER_RESIDUALS = 3.0  # line fits drop points off by more than this many median residuals (usual robust cut)
OUTLIER_MIN_PX = 1.0  # and never drop points within a pixel of the line (a mask edge is quantised to pixels)


def _robust_line(x: np.ndarray, y: np.ndarray) -> Optional[tuple]:
    """Fit y = m x + c, twice dropping points off the line by more than 3 median residuals (min 1 px)."""
    keep = np.isfinite(y)
    for _ in range(3):
        if keep.sum() < 3:
            return None
        m, c = np.polyfit(x[keep], y[keep], 1)
        resid = np.abs(y - (m * x + c))
        keep = np.isfinite(y) & (resid <= max(OUTLIER_MIN_PX, OUTLIER_RESIDUALS * float(np.median(resid[keep]))))
    return float(m), float(c)


def _crossings(grid: np.ndarray, axis: int, last: bool) -> np.ndarray:
    """Sub-pixel index of the first (or last) 0.5 crossing along ``axis`` per line of ``grid``; NaN where none."""
    g = np.moveaxis(grid, axis, -1)
    if last:
        g = g[..., ::-1]
    inside = g >= 0.5
    i = np.argmax(inside, axis=-1)
    any_in = inside.any(axis=-1)
    prev = np.take_along_axis(g, np.maximum(i - 1, 0)[..., None], -1)[..., 0]
    cur = np.take_along_axis(g, i[..., None], -1)[..., 0]
    frac = np.where(i > 0, (0.5 - prev) / np.maximum(cur - prev, 1e-6), 0.0)
    pos = i - 1 + frac
    pos = np.where(any_in, pos, np.nan)
    return (g.shape[-1] - 1 - pos) if last else pos


def _intersect(wall: tuple, plate: tuple) -> np.ndarray:
    """(a, b) where the wall a = m b + c meets the endplate b = n a + d."""
    m, c = wall
    n, d = plate
    a = (m * d + c) / (1.0 - m * n)
    return np.array([a, n * a + d])


def _local_grid(body: np.ndarray, origin: np.ndarray, u: np.ndarray, v: np.ndarray, pad: int = 3):
    """Resample a body mask (float [h, w], box origin [x, y] in the image) on a grid along u (cols) and v (rows).

    Returns (grid [nb, na] float, a0, b0): grid[j, i] is the mask at image point origin_c + (a0 + i) u + (b0 + j) v,
    with b increasing cranially, where origin_c is the box centre.
    """
    h, w = body.shape
    centre = origin + np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]) + origin - centre
    a_rng, b_rng = corners @ u, corners @ v
    a0, b0 = np.floor(a_rng.min()) - pad, np.floor(b_rng.min()) - pad
    a = np.arange(a0, np.ceil(a_rng.max()) + pad + 1)
    b = np.arange(b0, np.ceil(b_rng.max()) + pad + 1)
    bb, aa = np.meshgrid(b, a, indexing="ij")
    xs = centre[0] + aa * u[0] + bb * v[0] - origin[0]
    ys = centre[1] + aa * u[1] + bb * v[1] - origin[1]
    grid = ndimage.map_coordinates(body, [ys, xs], order=1, cval=0.0)
    return grid, a0, b0, centre


def _fit_body(grid: np.ndarray) -> Optional[dict]:
    """Walls and endplates (grid index units) of a body resampled in its local frame; None if it has no shape."""
    post, ant = _crossings(grid, 1, last=False), _crossings(grid, 1, last=True)
    width = ant - post
    if not np.isfinite(width).any():
        return None
    rows = np.nonzero(width >= BODY_ROW_MIN_WIDTH * np.nanmax(width))[0]
    r0, r1 = rows[0], rows[-1]
    lo, hi = r0 + WALL_FIT_SPAN[0] * (r1 - r0), r0 + WALL_FIT_SPAN[1] * (r1 - r0)
    b = np.arange(grid.shape[0], dtype=float)
    band = (b >= lo) & (b <= hi)
    walls = {"posterior": _robust_line(b[band], post[band]), "anterior": _robust_line(b[band], ant[band])}
    if None in walls.values():
        return None
    mid_b = 0.5 * (r0 + r1)
    a_post = walls["posterior"][0] * mid_b + walls["posterior"][1]
    a_ant = walls["anterior"][0] * mid_b + walls["anterior"][1]
    margin = ENDPLATE_FIT_MARGIN * (a_ant - a_post)
    a = np.arange(grid.shape[1], dtype=float)
    cols = (a >= a_post + margin) & (a <= a_ant - margin)
    bottom, top = _crossings(grid, 0, last=False), _crossings(grid, 0, last=True)
    top = np.where(top > r1 + DENS_TOLERANCE * (r1 - r0), np.nan, top)  # the dens rises above C2's top
    plates = {"inferior": _robust_line(a[cols], bottom[cols]), "superior": _robust_line(a[cols], top[cols])}
    if None in plates.values():
        return None
    return {**walls, **plates}


def _body_corners(lines: dict, to_image) -> dict:
    """Corner name -> image [x, y] from fitted lines (grid units) and the grid-to-image mapping."""
    out = {}
    for side in ("anterior", "posterior"):
        for plate in ("superior", "inferior"):
            out[f"{side}_{plate}"] = to_image(_intersect(lines[side], lines[plate]))
    return out


def _spinolaminar(canal: np.ndarray, corners: dict, anterior: np.ndarray) -> Optional[np.ndarray]:
    """Where the ray from the posterior wall middle, perpendicular to the wall, leaves the canal at the back."""
    ps, pi = np.array(corners["posterior_superior"]), np.array(corners["posterior_inferior"])
    depth = 0.5 * np.hypot(*(np.array(corners["anterior_superior"]) - ps)) + 0.5 * np.hypot(
        *(np.array(corners["anterior_inferior"]) - pi)
    )
    wall = (ps - pi) / max(np.hypot(*(ps - pi)), 1e-9)
    back = np.array([wall[1], -wall[0]])
    back = back if back @ anterior < 0 else -back
    start = 0.5 * (ps + pi)
    steps = np.arange(0.0, RAY_LENGTH_DEPTHS * depth, RAY_STEP_PX)
    pts = start + steps[:, None] * back
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    patch = (canal[y0:y1, x0:x1] == CANAL_ID).astype(np.float32)
    if patch.size == 0:
        return None
    values = ndimage.map_coordinates(patch, [pts[:, 1] - y0, pts[:, 0] - x0], order=1, cval=0.0)
    inside = np.concatenate([[False], values >= 0.5, [False]])
    edges = np.flatnonzero(np.diff(inside.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]  # run k covers samples starts[k] .. ends[k] - 1
    if len(starts) == 0:
        return None
    # The canal is the longest run; slivers between the wall and an OPLL or osteophyte are short.
    k = int(np.argmax(ends - starts))
    j = int(ends[k])
    if steps[starts[k]] > OPLL_GAP * depth or j >= len(values):
        return None
    frac = (values[j - 1] - 0.5) / max(values[j - 1] - values[j], 1e-6)
    return start + (steps[j - 1] + frac * RAY_STEP_PX) * back


def estimate_landmarks(
    mask: np.ndarray, spacing_mm: Optional[Sequence[float]] = None, report: Optional[LevelReport] = None
) -> dict:
    """Landmarks ``{level: {corner: [x, y], "spinolaminar": [x, y]}}`` (pixels, float) from a level mask.

    mask: uint8 [rows, cols] with ``LEVEL_LABELS`` ids, ideally ``clean_levels(...).label_map``. report: that
    ``LevelReport`` (its spine axes give each body's frame); computed here when not given. Levels whose body
    cannot be fitted are left out (and logged); ``spinolaminar`` is left out where the canal label is absent.
    """
    if report is None:
        report = clean_levels(mask, spacing_mm=spacing_mm)
    mask = report.label_map
    boxes = ndimage.find_objects(mask, max_label=CANAL_ID)
    out = {}
    for level in report.found:
        box = boxes[LEVEL_LABELS[level] - 1]
        if box is None or np.count_nonzero(mask[box] == LEVEL_LABELS[level]) < MIN_BODY_AREA_PX:
            continue
        # Zero padding keeps the bilinear 0.5 crossings inside the resampled grid at the box edges.
        body = np.pad((mask[box] == LEVEL_LABELS[level]).astype(np.float32), 2)
        marks = _level_landmarks(
            body,
            np.array([box[1].start - 2, box[0].start - 2], dtype=float),
            np.array(report.axis[level]),
            np.array(report.anterior[level]),
            mask,
        )
        if marks is None:
            logger.warning("%s: body outline could not be fitted; no landmarks", level)
            continue
        out[level] = marks
    return out


def _level_landmarks(
    body: np.ndarray, origin: np.ndarray, cranial: np.ndarray, anterior: np.ndarray, mask: np.ndarray
) -> Optional[dict]:
    grid, a0, b0, centre = _local_grid(body, origin, anterior, cranial)
    lines = _fit_body(grid)
    if lines is None:
        return None

    def to_image(ab):
        return [float(v) for v in centre + (a0 + ab[0]) * anterior + (b0 + ab[1]) * cranial]

    marks = _body_corners(lines, to_image)
    point = _spinolaminar(mask, marks, anterior)
    if point is not None:
        marks["spinolaminar"] = [float(point[0]), float(point[1])]
    return marks
