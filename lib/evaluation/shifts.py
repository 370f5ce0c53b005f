"""What a real department does to a lateral film before the app sees it, as pure functions of (image, labels, spacing).

Each shift takes the film in the app's convention (float32 ``[rows, cols]`` in [0, 1], bone bright), its level
label map (integer ``[rows, cols]`` on the same grid, or None) and its spacing ``(row_mm, col_mm)`` (or None when
unknown), and returns the three changed consistently: a flip, rotation, resampling or crop moves the labels with
the pixels (nearest neighbour, so ids stay ids) and rescales the spacing; an intensity shift leaves labels and
spacing alone. The robustness benchmark (``apps/cli/benchmarks/robustness.py``) runs the pipeline on each.

Export artefacts and polarity use the same transforms as the film augmentation (``lib.models.augment``), so the
training randomisation and this test of it mean the same thing by "JPEG" and "inverted".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np
from scipy import ndimage
from skimage.transform import resize

from lib.anatomy.names import LEVEL_LABELS
from lib.core.errors import BadInputError, BadParameterError

Spacing = Optional[Tuple[float, float]]
Film = Tuple[np.ndarray, Optional[np.ndarray], Spacing]

ROTATION_DEG = 20.0
JPEG_QUALITY = 90  # a PACS export or screenshot at a usual quality setting
CROP_LEVELS = ("C2", "C3", "C4", "C5", "C6")  # the tight field: C2 to C6, nothing of C7 or the skull base
CROP_MARGIN = 0.04  # of the C2-C6 height (about a fifth of a pitch) above and below the bodies
CROP_MARGIN_AP = 0.6  # of the bodies' width in front of and behind them (canal, spinous processes, prevertebral)
NOISE_SEED = 0


def check_film(image, label, spacing) -> Film:
    """The three inputs checked and in their types; a ``BadInputError`` names what is wrong."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim != 2 or min(pixels.shape) < 2:
        raise BadInputError(f"a shift needs a 2D film [rows, cols]; got shape {pixels.shape}")
    if label is not None:
        label = np.asarray(label)
        if label.shape != pixels.shape:
            raise BadInputError(f"label map {label.shape} and film {pixels.shape} differ in shape")
    if spacing is not None:
        if len(spacing) != 2 or not all(np.isfinite(v) and v > 0 for v in spacing):
            raise BadInputError(f"spacing must be two positive numbers (row_mm, col_mm) or None; got {spacing}")
        spacing = (float(spacing[0]), float(spacing[1]))
    return pixels, label, spacing


def none(image, label, spacing) -> Film:
    return check_film(image, label, spacing)


def mirrored(image, label, spacing) -> Film:
    """Left-right flip: the patient faces the other way."""
    image, label, spacing = check_film(image, label, spacing)
    return (
        np.ascontiguousarray(image[:, ::-1]),
        None if label is None else np.ascontiguousarray(label[:, ::-1]),
        spacing,
    )


def rotated(image, label, spacing, degrees: float = ROTATION_DEG) -> Film:
    """Rotated about the centre, the canvas grown so nothing leaves it; the new corners are black (no exposure).

    Spacing: a rotation of a grid with unequal row and column spacing has no single spacing; the mean is kept.
    """
    image, label, spacing = check_film(image, label, spacing)
    out = np.clip(ndimage.rotate(image, degrees, reshape=True, order=1, mode="constant", cval=0.0), 0.0, 1.0)
    moved = None if label is None else ndimage.rotate(label, degrees, reshape=True, order=0, mode="constant", cval=0)
    if spacing is not None and spacing[0] != spacing[1]:
        spacing = (float(np.mean(spacing)),) * 2
    return out.astype(np.float32), moved, spacing


def rescaled(image, label, spacing, factor: float) -> Film:
    """Resampled by ``factor`` (0.5: half the pixels a side, spacing doubled; 1.5: upsampled, spacing / 1.5).

    The image is anti-aliased when shrunk (what a detector binning or a downsized export does); labels by
    nearest neighbour on the same output grid.
    """
    image, label, spacing = check_film(image, label, spacing)
    if not 0.05 <= factor <= 4.0:
        raise BadParameterError(f"resampling factor {factor} is outside 0.05-4")
    shape = (max(2, int(round(image.shape[0] * factor))), max(2, int(round(image.shape[1] * factor))))
    out = resize(image, shape, order=1, anti_aliasing=factor < 1.0, preserve_range=True).astype(np.float32)
    moved = None
    if label is not None:
        moved = resize(label, shape, order=0, anti_aliasing=False, preserve_range=True).astype(label.dtype)
    if spacing is not None:
        spacing = (spacing[0] * image.shape[0] / shape[0], spacing[1] * image.shape[1] / shape[1])
    return out, moved, spacing


def gamma(image, label, spacing, value: float) -> Film:
    """``x ** value``: another processing curve (under 1 brightens the soft tissue, over 1 darkens it)."""
    image, label, spacing = check_film(image, label, spacing)
    if value <= 0:
        raise BadParameterError(f"gamma must be positive; got {value}")
    return np.power(np.clip(image, 0.0, 1.0), value).astype(np.float32), label, spacing


def jpeg_8bit(image, label, spacing, quality: int = JPEG_QUALITY) -> Film:
    """An 8-bit JPEG export (``augment.RandJpegd`` at one quality): 256 grey levels and block artefacts."""
    from lib.models.augment import RandJpegd

    image, label, spacing = check_film(image, label, spacing)
    out = RandJpegd(("image",), prob=1.0, quality=(quality, quality))({"image": image[None]})["image"][0]
    return np.asarray(out, dtype=np.float32), label, spacing


def inverted(image, label, spacing) -> Film:
    """Bone dark: a MONOCHROME1 film read without its photometric tag (``augment.RandInvertd``)."""
    from lib.models.augment import RandInvertd

    image, label, spacing = check_film(image, label, spacing)
    out = RandInvertd(("image",), prob=1.0)({"image": image[None]})["image"][0]
    return np.asarray(out, dtype=np.float32), label, spacing


def tight_crop(image, label, spacing) -> Film:
    """A field from the top of C2 to the bottom of C6, read off the truth labels (a collimated or cropped film)."""
    image, label, spacing = check_film(image, label, spacing)
    if label is None:
        raise BadInputError("the tight crop is placed on the level labels; this film has none")
    bodies = np.isin(label, [LEVEL_LABELS[lv] for lv in CROP_LEVELS])
    if not bodies.any():
        raise BadInputError(f"the tight crop needs at least one of {', '.join(CROP_LEVELS)} in the labels")
    rows, cols = np.nonzero(bodies.any(axis=1))[0], np.nonzero(bodies.any(axis=0))[0]
    pad_r = int(round(CROP_MARGIN * (rows[-1] - rows[0] + 1)))
    pad_c = int(round(CROP_MARGIN_AP * (cols[-1] - cols[0] + 1)))
    r0, r1 = max(0, rows[0] - pad_r), min(image.shape[0], rows[-1] + 1 + pad_r)
    c0, c1 = max(0, cols[0] - pad_c), min(image.shape[1], cols[-1] + 1 + pad_c)
    return image[r0:r1, c0:c1].copy(), label[r0:r1, c0:c1].copy(), spacing


def noise_sigma(image) -> float:
    """The film's own noise level: robust standard deviation of neighbour differences (MAD / 0.6745 / sqrt 2)."""
    pixels = np.asarray(image, dtype=np.float64)
    diff = np.diff(pixels, axis=1).ravel()
    return float(np.median(np.abs(diff - np.median(diff))) / 0.6745 / np.sqrt(2.0))


def doubled_noise(image, label, spacing, seed: int = NOISE_SEED) -> Film:
    """Twice the film's noise (standard deviation): independent noise of sqrt(3) sigma added (a lower dose)."""
    image, label, spacing = check_film(image, label, spacing)
    sigma = max(noise_sigma(image), 1.0 / 4096)  # a noiseless (synthetic) film still gets a 12-bit step of noise
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(3.0) * sigma, image.shape)
    return np.clip(image + noise, 0.0, 1.0).astype(np.float32), label, spacing


@dataclass(frozen=True)
class Shift:
    """One named shift: what it is, whether it moves the labels, and the function ``(image, label, spacing)``."""

    name: str
    description: str
    moves_labels: bool
    apply: Callable[..., Film]


SHIFTS: dict[str, Shift] = {
    s.name: s
    for s in (
        Shift("none", "the film as stored", False, none),
        Shift("mirrored", "left-right flip (facing the other way)", True, mirrored),
        Shift("rotated_20", f"rotated {ROTATION_DEG:g} degrees", True, rotated),
        Shift(
            "half_resolution", "downsampled 2x (spacing doubled)", True, lambda i, lab, sp: rescaled(i, lab, sp, 0.5)
        ),
        Shift("upsampled_1.5", "upsampled 1.5x (spacing / 1.5)", True, lambda i, lab, sp: rescaled(i, lab, sp, 1.5)),
        Shift("gamma_0.6", "gamma 0.6", False, lambda i, lab, sp: gamma(i, lab, sp, 0.6)),
        Shift("gamma_1.6", "gamma 1.6", False, lambda i, lab, sp: gamma(i, lab, sp, 1.6)),
        Shift("jpeg_8bit", f"8-bit JPEG export (quality {JPEG_QUALITY})", False, jpeg_8bit),
        Shift("inverted", "inverted polarity (MONOCHROME1 read without its tag: bone dark)", False, inverted),
        Shift("tight_crop", "tight crop to the C2-C6 field", True, tight_crop),
        Shift("doubled_noise", "noise doubled (standard deviation)", False, doubled_noise),
    )
}


def shift_named(name: str) -> Shift:
    if name not in SHIFTS:
        raise BadParameterError(f"unknown shift {name!r}; known: {', '.join(SHIFTS)}")
    return SHIFTS[name]
