"""Bone as a film shows it: a cortical shell, a mottled cancellous core with oriented trabeculae, and denser
(subchondral) bone under the endplates.

``trabecular_field`` is band-limited noise, elongated along the spine's axis (mostly vertical trabeculae), unit
standard deviation. ``solid_body_paths`` turns any simple outline (concave endplates included) into the lateral
beam's path lengths through cortex and core of a body with an elliptical axial section.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
from scipy import ndimage

from lib.phantom.raster import Box, bbox, fill_polygon, rolled_profile


def trabecular_field(
    shape: Tuple[int, int], px_per_mm: float, axis_angle_rad: float, rng: np.random.Generator
) -> np.ndarray:
    """float32 [rows, cols], mean 0, std 1: a band-pass (about 0.6-3 mm) pattern stretched along the axis.

    ``axis_angle_rad``: direction of the spine axis in the image, measured from the image's vertical.
    """
    rows, cols = shape
    noise = rng.standard_normal(shape).astype(np.float32)
    fy = np.fft.fftfreq(rows)[:, None] * px_per_mm  # cycles per mm
    fx = np.fft.rfftfreq(cols)[None, :] * px_per_mm
    c, s = math.cos(axis_angle_rad), math.sin(axis_angle_rad)
    f_along = fy * c - fx * s  # frequency along the axis (slow variation along trabeculae)
    f_across = fy * s + fx * c
    radius2 = (f_along / 0.3) ** 2 + (f_across / 0.55) ** 2
    band = np.exp(-radius2) - np.exp(-radius2 * 9.0)  # drops the lowest frequencies: no large blotches
    out = np.fft.irfft2(np.fft.rfft2(noise) * band, s=shape).astype(np.float32)
    out -= out.mean()
    return out / max(float(out.std()), 1e-6)


def solid_body_paths(
    outline_px: np.ndarray,
    shape: Tuple[int, int],
    posterior_px: np.ndarray,
    anterior_dir: np.ndarray,
    depth_px: float,
    width_mm: float,
    cortex_mm: float,
    px_per_mm: float,
    process_px: Optional[np.ndarray] = None,
    process_width_mm: float = 0.0,
) -> Optional[Tuple[Box, np.ndarray, np.ndarray, np.ndarray]]:
    """(box, cortical mm, core mm, distance to the outline in mm) of a body inside ``outline_px`` [N, 2].

    The axial section is round in front and flat behind (``_d_section``): ``width_mm`` wide, ``depth_px`` deep
    from ``posterior_px`` along the unit ``anterior_dir`` (pixel frame). The shell is ``cortex_mm`` thick
    everywhere, so endplates, crossed flat by the beam, show as bright lines and the walls as thin rims.
    ``process_px``: an outline joined to the body as one solid (C2's dens), ``process_width_mm`` wide where it
    leaves the body; the shell then runs round the joint outline only, with no cortical line across the joint.
    None when the outline is outside the image.
    """
    placed = _placed(outline_px, shape, px_per_mm, process_px)
    if placed is None:
        return None
    box, inside, dist_mm = placed
    rows = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None]
    cols = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :]
    a = (cols - posterior_px[0]) * anterior_dir[0] + (rows - posterior_px[1]) * anterior_dir[1]
    half = 0.5 * depth_px
    x = (a - half) / half
    soft_edge = np.clip(dist_mm / 0.35, 0.0, 1.0)
    outer = width_mm * _d_section(x, 0.02) * soft_edge * inside
    half_in = max(half - cortex_mm * px_per_mm, 1.0)
    x_in = (a - half) / half_in
    core = (width_mm - 2 * cortex_mm) * _d_section(x_in, 0.0) * (dist_mm > cortex_mm)
    if process_px is not None:
        # Outside the body's own outline the solid is the process: narrower across the beam.
        narrow = np.where(fill_polygon(outline_px, shape)[box], 1.0, process_width_mm / width_mm)
        outer, core = outer * narrow, core * narrow
    return box, (outer - core).astype(np.float32), core.astype(np.float32), dist_mm


def _d_section(x: np.ndarray, floor: float) -> np.ndarray:
    """Relative transverse width of a body's axial section at ``x`` (-1 posterior wall, +1 anterior wall).

    Round in front, nearly flat behind: the posterior wall of a cervical body is a flat plate across the beam, so
    the beam runs along its cortex for most of the body's width and the wall shows as the crisp bright line of real
    films (an elliptical section would only graze it).
    """
    front = np.sqrt(np.clip(1.0 - x * x, floor, None))
    back = np.clip(1.0 - x**4, floor**2, None) ** 0.25
    return np.where(x < 0.0, back, front)


def shelled_outline(
    outline_px: np.ndarray, shape: Tuple[int, int], thickness_mm: float, roll_mm: float, cortex_mm: float,
    px_per_mm: float,
) -> Optional[Tuple[Box, np.ndarray, np.ndarray]]:  # fmt: skip
    """(box, cortical mm, inner mm) of a flat bony solid of any simple outline (concave ones too), rising to
    ``thickness_mm`` over ``roll_mm`` from its edge; None when outside the image."""
    placed = _placed(outline_px, shape, px_per_mm)
    if placed is None:
        return None
    box, _, d = placed
    outer = rolled_profile(d, thickness_mm, roll_mm)
    inner = rolled_profile(d - cortex_mm, max(thickness_mm - 2 * cortex_mm, 0.0), max(roll_mm - cortex_mm, 0.3))
    return box, outer - inner, inner


def _placed(outline_px: np.ndarray, shape: Tuple[int, int], px_per_mm: float, extra_px: Optional[np.ndarray] = None):
    """(box, inside mask, distance to the outline in mm) of an outline (joined with ``extra_px``) in the image;
    None when it falls outside."""
    both = outline_px if extra_px is None else np.concatenate([outline_px, extra_px])
    box = bbox(both, shape, pad=2.0)
    if box is None:
        return None
    inside = fill_polygon(outline_px, shape)[box]
    if extra_px is not None:
        inside |= fill_polygon(extra_px, shape)[box]
    if not inside.any():
        return None
    return box, inside, ndimage.distance_transform_edt(inside).astype(np.float32) / px_per_mm
