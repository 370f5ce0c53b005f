"""Rasterising 2D shapes into masks and beam-path thickness maps, each only within its bounding box.

Coordinates are pixels ``(x, y)`` = (column, row) with pixel centres on integers. A thickness map is the path
length (mm) of a lateral ray through a 3D solid whose sagittal outline is the 2D shape: ellipsoidal roll-off
towards the outline, so shapes have soft, realistic edges and a cortical shell shows as a bright rim.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

Box = Tuple[slice, slice]


def bbox(points: np.ndarray, shape: Tuple[int, int], pad: float = 1.0) -> Optional[Box]:
    """Row/column slices covering ``points`` [N, 2] (x, y) clipped to ``shape``; None if fully outside."""
    x0, y0 = np.floor(points.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + pad).astype(int) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, shape[1]), min(y1, shape[0])
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _grid(box: Box) -> Tuple[np.ndarray, np.ndarray]:
    rows = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None]
    cols = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :]
    return cols, rows


def edge_distances(vertices: np.ndarray, box: Box) -> np.ndarray:
    """Signed distances (px, positive inside) from each edge line of a convex polygon: [n_edges, h, w] float32."""
    cols, rows = _grid(box)
    v = np.asarray(vertices, dtype=np.float64)
    centroid = v.mean(axis=0)
    out = np.empty((len(v), rows.shape[0], cols.shape[1]), dtype=np.float32)
    for i, (p, q) in enumerate(zip(v, np.roll(v, -1, axis=0))):
        e = q - p
        length = max(np.hypot(*e), 1e-9)
        # The centroid of a convex polygon is inside, so it fixes which side of each edge is positive.
        side = 1.0 if ((centroid[0] - p[0]) * e[1] - (centroid[1] - p[1]) * e[0]) >= 0 else -1.0
        out[i] = side * ((cols - p[0]) * e[1] - (rows - p[1]) * e[0]) / length
    return out


def fill_polygon(vertices: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Boolean mask [rows, cols] of any simple polygon (even-odd rule on pixel centres)."""
    mask = np.zeros(shape, dtype=bool)
    box = bbox(vertices, shape, pad=0.0)
    if box is None:
        return mask
    v = np.asarray(vertices, dtype=np.float64)
    p, q = v, np.roll(v, -1, axis=0)
    rows = np.arange(box[0].start, box[0].stop, dtype=np.float64)[:, None]
    spans = (p[:, 1][None] <= rows) != (q[:, 1][None] <= rows)  # [rows, edges] edge crosses this row
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (rows - p[:, 1][None]) / (q[:, 1] - p[:, 1])[None]
    xs = np.where(spans, p[:, 0][None] + t * (q[:, 0] - p[:, 0])[None], np.inf)
    xs.sort(axis=1)
    cols = np.arange(box[1].start, box[1].stop, dtype=np.float64)
    counts = np.zeros((len(rows), len(cols)), dtype=np.int32)
    for k in range(xs.shape[1]):
        counts += cols[None, :] >= xs[:, k : k + 1]
    mask[box] = (counts % 2) == 1
    return mask


def rolled_profile(d_px: np.ndarray, thickness_mm: float, roll_px: float) -> np.ndarray:
    """Path length (mm) for an inside distance ``d_px``: rises as a quarter ellipse over ``roll_px``, then flat."""
    s = np.clip(d_px / max(roll_px, 1e-6), 0.0, 1.0)
    return (thickness_mm * np.sqrt(s * (2.0 - s))).astype(np.float32)


def shelled_polygon(
    vertices: np.ndarray, shape, thickness_mm: float, roll_px: float, cortex_mm: float, px_per_mm: float
) -> Optional[Tuple[Box, np.ndarray, np.ndarray]]:
    """Cortical and cancellous path-length maps (mm) of a convex bony solid; None when outside the image."""
    box = bbox(vertices, shape)
    if box is None:
        return None
    d = edge_distances(vertices, box).min(axis=0)
    outer = rolled_profile(d, thickness_mm, roll_px)
    cortex_px = cortex_mm * px_per_mm
    inner = rolled_profile(d - cortex_px, max(thickness_mm - 2 * cortex_mm, 0.0), max(roll_px - cortex_px, 1.0))
    return box, outer - inner, inner


def shelled_ellipse(
    centre: Sequence[float],
    axes_px: Sequence[float],
    angle_rad: float,
    shape,
    thickness_mm: float,
    cortex_mm: float,
    px_per_mm: float,
) -> Optional[Tuple[Box, np.ndarray, np.ndarray]]:
    """Like ``shelled_polygon`` for an ellipsoid with sagittal semi-axes ``axes_px`` rotated by ``angle_rad``."""
    a, b = float(axes_px[0]), float(axes_px[1])
    reach = max(a, b)
    box = bbox(np.array([[centre[0] - reach, centre[1] - reach], [centre[0] + reach, centre[1] + reach]]), shape)
    if box is None:
        return None
    cols, rows = _grid(box)
    dx, dy = cols - centre[0], rows - centre[1]
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    xr, yr = dx * c + dy * s, -dx * s + dy * c
    cortex_px = cortex_mm * px_per_mm
    q_out = (xr / a) ** 2 + (yr / b) ** 2
    q_in = (xr / max(a - cortex_px, 0.5)) ** 2 + (yr / max(b - cortex_px, 0.5)) ** 2
    outer = (thickness_mm * np.sqrt(np.clip(1.0 - q_out, 0.0, None))).astype(np.float32)
    inner = (max(thickness_mm - 2 * cortex_mm, 0.0) * np.sqrt(np.clip(1.0 - q_in, 0.0, None))).astype(np.float32)
    return box, outer - inner, inner
