"""Exposing a film-style patient as a department's processing would show it.

Beer-Lambert transmission with heel effect and collimation, scatter, quantum noise, detector blur, then the
processing chain of a clinical system: log, strong unsharp masking at two scales (crisp cortical edges, flattened
large areas), a sigmoid or linear-gamma LUT, fine correlated noise, faint anti-scatter grid lines, burned-in side
markers and text, and quantisation to 8-16 bits. Output is bone bright (MONOCHROME2 sense); the DICOM writer inverts
for MONOCHROME1.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from lib.phantom.film.spec import FilmSpec
from lib.phantom.imaging import COLLIMATOR_LEAK, SCATTER_KERNEL_MM, smooth_large

MARKER_TEXTS = ("L", "R", "LAT", "L LAT", "R LAT", "lat", "C-SPINE", "ERECT", "NECK LAT")


def _field(spec: FilmSpec) -> Tuple[np.ndarray, np.ndarray]:
    rows, cols = spec.shape_px
    a = spec.acquisition
    heel = 1.0 + a["heel_effect"] * a["heel_sign"] * (np.arange(rows, dtype=np.float32) / rows - 0.5)
    top, bottom, left, right = (m / spec.spacing_mm for m in a["collimation_mm"])
    r = np.arange(rows, dtype=np.float32)[:, None]
    c = np.arange(cols, dtype=np.float32)[None, :]
    inside = (r >= top) & (r < rows - bottom) & (c >= left) & (c < cols - right)
    field = ndimage.uniform_filter(np.where(inside, 1.0, COLLIMATOR_LEAK).astype(np.float32), size=5)
    return (a["photons_per_pixel"] * heel)[:, None].astype(np.float32), field


def _lut(x: np.ndarray, spec: FilmSpec) -> np.ndarray:
    a = spec.acquisition
    if a["lut"] == "sigmoid":
        k = 6.0 / a["lut_width"]
        y = 1.0 / (1.0 + np.exp(-k * (x - a["lut_centre"])))
        lo, hi = 1.0 / (1.0 + np.exp(k * a["lut_centre"])), 1.0 / (1.0 + np.exp(-k * (1.0 - a["lut_centre"])))
        return (y - lo) / (hi - lo)
    return np.clip(x, 0.0, 1.0) ** a["gamma"]


def burn_in_markers(display: np.ndarray, spec: FilmSpec) -> np.ndarray:
    """Side marker and a text line in random corners, white (the brightest value) as modalities burn them in."""
    a = spec.acquisition
    if not a["marker"]:
        return display
    rng = np.random.default_rng(a["marker_seed"])
    rows, cols = display.shape
    layer = Image.new("L", (cols, rows), 0)
    draw = ImageDraw.Draw(layer)
    size = int(max(12, rng.uniform(0.025, 0.05) * rows))
    font = ImageFont.load_default(size=size)
    corners = rng.permutation(4)
    date = f"{int(rng.integers(1, 28)):02d}.0{int(rng.integers(1, 9))}.20{int(rng.integers(10, 25))}"
    for k, text in enumerate((str(rng.choice(MARKER_TEXTS)), date)):
        corner = corners[k]
        x = 0.04 * cols if corner % 2 == 0 else 0.96 * cols - draw.textlength(text, font=font)
        y = 0.03 * rows if corner < 2 else 0.95 * rows - size
        draw.text((x, y), text, fill=255, font=font)
        if k == 0 and rng.random() < 0.5:  # a lead marker in its box
            box = draw.textbbox((x, y), text, font=font)
            draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), outline=255, width=2)
    mask = np.asarray(layer, dtype=np.float32) / 255.0
    return np.maximum(display, mask)


def _body_density(density: np.ndarray, spec: FilmSpec) -> float:
    """Median density at the centres of the bodies inside the image (the median of the image without any)."""
    values = []
    for body in spec.spine.bodies.values():
        x, y = spec.to_px(np.mean(list(body.corners.values()), axis=0)).round().astype(int)
        if 0 <= y < density.shape[0] and 0 <= x < density.shape[1]:
            values.append(density[y, x])
    return float(np.median(values)) if values else float(np.median(density))


def form_film_image(
    line_integral: np.ndarray, spec: FilmSpec, rng: np.random.Generator
) -> Tuple[np.ndarray, np.ndarray]:
    """(display float32 [rows, cols] in [0, 1], bone bright; stored uint16 at ``bits_stored``, MONOCHROME2 sense)."""
    a = spec.acquisition
    photons, field = _field(spec)
    primary = photons * field * np.exp(-line_integral)
    scatter = a["scatter_to_primary"] * smooth_large(primary, SCATTER_KERNEL_MM / spec.spacing_mm)
    counts = rng.poisson(primary + scatter).astype(np.float32)
    counts = ndimage.gaussian_filter(counts, a["blur_mm"] / spec.spacing_mm, mode="nearest")
    density = -np.log(np.maximum(counts, 0.5) / photons)
    exposed = field > 0.5
    # Multi-scale processing: the large-area range is compressed and the detail boosted, so bone stands out of
    # the soft tissue and cortical edges look crisp, as clinical processing makes them.
    base = smooth_large(density, a["unsharp_kernel_mm"] / spec.spacing_mm)
    level = float(np.median(density[exposed]))
    x = level + (1.0 - a["range_compression"]) * (base - level) + (1.0 + a["unsharp_amount"]) * (density - base)
    x = x + 0.25 * (x - ndimage.gaussian_filter(x, 0.5 / spec.spacing_mm))
    low = float(np.percentile(x[exposed], 0.5))
    # The window puts the middle of the vertebral bodies at a set grey; shoulders and skull may saturate.
    high = low + (_body_density(x, spec) - low) / a["body_grey"]
    x = (x - low) / max(high - low, 1e-6)
    correlated = ndimage.gaussian_filter(rng.standard_normal(x.shape).astype(np.float32), 1.2)
    x = x + a["correlated_noise"] * correlated / max(float(correlated.std()), 1e-6)
    if a["grid"]:
        x = x + a["grid_amplitude"] * np.sin(2 * np.pi * np.arange(x.shape[1]) / a["grid_period_px"])[None, :]
    display = np.clip(_lut(np.clip(x, 0.0, 1.0), spec), 0.0, 1.0)
    display = burn_in_markers(display.astype(np.float32), spec)
    top = (1 << int(a["bits_stored"])) - 1
    stored = np.round(display * top).astype(np.uint16)
    return (stored.astype(np.float32) / top), stored
