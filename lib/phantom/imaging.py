"""Image formation: Beer-Lambert transmission, heel effect, scatter, quantum noise, detector blur, log, window.

Input is the line integral sum(mu_i * t_i); output is a bone-bright display image in [0, 1] and its 12-bit
stored form. Large blurs (scatter, unsharp mask) run on a block-averaged copy to keep each image well under a
tenth of a second.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
from scipy import ndimage

from lib.phantom.patient import PatientSpec

MAX_STORED = 4095  # BitsStored 12
SCATTER_KERNEL_MM = 25.0
UNSHARP_KERNEL_MM = 6.0
UNSHARP_AMOUNT = 0.45
COLLIMATOR_LEAK = 0.003


def smooth_large(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur for large sigmas: block-average, blur, upsample linearly. Same shape, float32."""
    factor = max(1, int(sigma_px // 3))
    rows, cols = image.shape
    r, c = rows // factor * factor, cols // factor * factor
    small = image[:r, :c].reshape(r // factor, factor, c // factor, factor).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sigma_px / factor, mode="nearest")
    big = ndimage.zoom(small, (rows / small.shape[0], cols / small.shape[1]), order=1, mode="nearest")
    return big[:rows, :cols].astype(np.float32)


def exposure_field(spec: PatientSpec) -> Tuple[np.ndarray, np.ndarray]:
    """Unattenuated photons per pixel (heel effect along the rows) and the collimated field (1 inside, leak outside)."""
    rows, cols = spec.shape_px
    a = spec.acquisition
    heel = 1.0 + spec.centre.heel_effect * a["heel_sign"] * (np.arange(rows, dtype=np.float32) / rows - 0.5)
    r = np.arange(rows, dtype=np.float32)[:, None]
    c = np.arange(cols, dtype=np.float32)[None, :]
    inside_rows = (r >= a["collimation_top_px"]) & (r < rows - a["collimation_bottom_px"])
    inside_cols = (c >= a["collimation_left_px"]) & (c < cols - a["collimation_right_px"])
    field = np.where(inside_rows & inside_cols, 1.0, COLLIMATOR_LEAK).astype(np.float32)
    field = ndimage.uniform_filter(field, size=5)  # the collimator blades cast a soft penumbra
    return (a["photons_per_pixel"] * heel)[:, None].astype(np.float32), field


def form_image(line_integral: np.ndarray, spec: PatientSpec, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """(display float32 [rows, cols] in [0, 1], bone bright; stored uint16 12-bit, MONOCHROME2 sense)."""
    photons, field = exposure_field(spec)
    primary = photons * field * np.exp(-line_integral)
    sigma_scatter = SCATTER_KERNEL_MM / spec.spacing_mm
    scatter = spec.acquisition["scatter_to_primary"] * smooth_large(primary, sigma_scatter)
    counts = rng.poisson(primary + scatter).astype(np.float32)
    blur_px = spec.centre.detector_blur_mm / spec.spacing_mm
    counts = ndimage.gaussian_filter(counts, blur_px, mode="nearest")
    density = -np.log(np.maximum(counts, 0.5) / photons)
    exposed = field > 0.5
    low, high = np.percentile(density[exposed], (1.0, 99.7))
    display = np.clip((density - low) / max(high - low, 1e-6), 0.0, 1.0)
    # Unsharp masking as in clinical post-processing: local contrast up, large-area range down.
    display = display + UNSHARP_AMOUNT * (display - smooth_large(display, UNSHARP_KERNEL_MM / spec.spacing_mm))
    display = np.clip(display, 0.0, 1.0).astype(np.float32)
    stored = np.round(display * MAX_STORED).astype(np.uint16)
    return display, stored
