"""The radiograph in the app's one convention, and the small intensity and geometry helpers the readers share.

``Radiograph.pixels`` is a 2D float32 array ``[rows, cols]`` in ``[0, 1]``, bone bright. Pixel spacing comes with
the tag or header it was read from; a missing or zero spacing is the state ``"unknown"``, never a guess.

Two geometries, never mixed: ``spacing_mm`` is the *measurement* spacing (what a millimetre on the film is, for the
measurements), ``viewer_geometry`` is the grid a viewer's ITK gives the file (``lib.io.geometry``), on which label
maps are written so they overlay the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lib.core.errors import ImageTooLargeError
from lib.io.geometry import ViewerGeometry

SPACING_UNKNOWN = "unknown"


@dataclass
class Radiograph:
    """A radiograph in the app's one intensity convention.

    pixels: float32 ``[rows, cols]`` in [0, 1], bone bright.
    spacing_mm: ``(row_mm, col_mm)`` or None when unknown.
    spacing_source: the tag or header the spacing came from, or ``"unknown"``.
    magnification: EstimatedRadiographicMagnificationFactor when the file gives one, else None.
    viewer_geometry: the file's grid as ITK reads it (set by ``lib.io.reader.read_radiograph``); None until read.
    """

    pixels: np.ndarray
    spacing_mm: tuple[float, float] | None
    spacing_source: str
    path: str = ""
    file_format: str = ""
    magnification: float | None = None
    metadata: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    viewer_geometry: ViewerGeometry | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.pixels.shape)  # type: ignore[return-value]

    def label_geometry(self) -> ViewerGeometry:
        """The grid label maps of this radiograph are written on: the viewer's, else the app's default grid."""
        if self.viewer_geometry is not None:
            return self.viewer_geometry
        return ViewerGeometry.default(self.shape, self.spacing_mm, "app default grid: viewer geometry not read")

    def describe(self) -> dict:
        """JSON-ready provenance: format, shape, measurement spacing and its source, viewer geometry, warnings."""
        return {
            "path": self.path,
            "format": self.file_format,
            "shape": list(self.shape),
            "spacing_mm": list(self.spacing_mm) if self.spacing_mm else None,
            "spacing_source": self.spacing_source,
            "magnification": self.magnification,
            "viewer_geometry": self.viewer_geometry.describe() if self.viewer_geometry else None,
            "warnings": list(self.warnings),
            **{k: v for k, v in self.metadata.items() if isinstance(v, (str, int, float))},
        }


def check_pixel_budget(rows: int, cols: int, max_pixels: int, name: str) -> None:
    """Refuse an image larger than ``max_pixels`` before its pixels are decoded (bounded memory)."""
    if rows * cols > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {rows} x {cols} = {rows * cols:,} pixels, over the limit of {max_pixels:,} "
            "(setting max_image_pixels)"
        )


def spacing_or_none(row_mm: float | None, col_mm: float | None) -> tuple[float, float] | None:
    """A spacing pair if both values are positive finite numbers, else None (unknown)."""
    try:
        pair = (float(row_mm), float(col_mm))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if all(np.isfinite(v) and v > 0 for v in pair):
        return pair
    return None


def window_to_unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of ``[low, high]`` to ``[0, 1]``, clipped; float32."""
    span = max(float(high) - float(low), 1e-6)
    return np.clip((values.astype(np.float32) - np.float32(low)) / np.float32(span), 0.0, 1.0)


def auto_window(values: np.ndarray) -> np.ndarray:
    """Window an image that carries no window of its own: 0.5th to 99.5th percentile to [0, 1]."""
    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:
        low, high = float(values.min()), float(values.max())
    return window_to_unit(values, low, high)


def rgb_to_grey(values: np.ndarray, warnings: list[str]) -> np.ndarray:
    """ITU-R BT.601 luminance of a ``[rows, cols, 3|4]`` array, recording that a conversion happened."""
    rgb = values[..., :3].astype(np.float32)
    warnings.append("colour image converted to grey (BT.601 luminance)")
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
