"""Non-DICOM radiographs into the app's convention: PNG/JPEG/TIFF/BMP pictures and single-slice NIfTI/NRRD.

Pictures carry no trustworthy spacing, so theirs is unknown. NIfTI and NRRD store ``[x, y(, z)]`` arrays
(x = column), so they are transposed to ``[rows, cols]``; their header spacing is used.
A picture is taken as displayed (bone bright); 8-bit data maps ``/255``, deeper data is windowed by percentile.
"""

from __future__ import annotations

import warnings as _warnings
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
from PIL import Image, UnidentifiedImageError

from lib.core.errors import BadInputError, ImageTooLargeError, UnsupportedImageError
from lib.io.radiograph import Radiograph, auto_window, check_pixel_budget, rgb_to_grey, spacing_or_none, window_to_unit


def read_raster(path: Path, max_pixels: int) -> Radiograph:
    """Read a PNG/JPEG/TIFF/BMP picture; colour is converted to grey (recorded in ``warnings``)."""
    warnings: list[str] = []
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                check_pixel_budget(picture.height, picture.width, max_pixels, path.name)
                frames = getattr(picture, "n_frames", 1)
                if frames > 1:
                    raise UnsupportedImageError(
                        f"{path.name}: picture with {frames} frames; one 2D radiograph is needed"
                    )
                picture.load()
                values = np.asarray(
                    picture.convert("RGB") if picture.mode in ("P", "CMYK", "YCbCr", "LA", "PA") else picture
                )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL refuses at open, from the header, a picture past its own bomb limit: too large, not corrupt.
        raise ImageTooLargeError(f"{path.name}: picture is too large to decode ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadInputError(f"{path.name}: picture file is truncated or corrupt ({exc})") from None
    if values.ndim == 3:
        values = rgb_to_grey(values, warnings)
    if values.dtype == np.uint8 or values.ndim == 2 and values.dtype == np.float32 and values.max() <= 1.0:
        pixels = window_to_unit(values, 0.0, 255.0 if values.dtype != np.float32 else 1.0)
    else:
        pixels = auto_window(values)
    return Radiograph(pixels, None, "unknown", warnings=warnings, metadata={"mode": "picture"})


def read_volume_slice(path: Path, fmt: str, max_pixels: int) -> Radiograph:
    """Read a NIfTI or NRRD file that holds one 2D slice (``W x H`` or ``W x H x 1``)."""
    try:
        if fmt == "nifti":
            values, spacing_xy = _read_nifti(path, max_pixels)
        else:
            values, spacing_xy = _read_nrrd(path, max_pixels)
    except (nib.filebasedimages.ImageFileError, nrrd.NRRDError, OSError, EOFError, ValueError) as exc:
        raise BadInputError(f"{path.name}: {fmt.upper()} file is truncated or corrupt ({exc})") from None
    squeezed = _as_2d(values, path.name)
    rows_cols = np.ascontiguousarray(squeezed.T)  # [x, y] -> [rows = y, cols = x]
    spacing = spacing_or_none(spacing_xy[1], spacing_xy[0]) if len(spacing_xy) >= 2 else None
    source = f"{fmt.upper()} header" if spacing else "unknown"
    warnings = ["no window in the file: 0.5-99.5 percentile window used"]
    return Radiograph(auto_window(rows_cols.astype(np.float32)), spacing, source, warnings=warnings)


def _read_nifti(path: Path, max_pixels: int) -> tuple[np.ndarray, tuple[float, ...]]:
    image = nib.load(str(path))
    shape = image.shape
    _check_shape_budget(shape, max_pixels, path.name)
    return np.asarray(image.dataobj), tuple(float(z) for z in image.header.get_zooms()[:2])


def _read_nrrd(path: Path, max_pixels: int) -> tuple[np.ndarray, tuple[float, ...]]:
    header = nrrd.read_header(str(path))
    _check_shape_budget(tuple(int(s) for s in header.get("sizes", ())), max_pixels, path.name)
    values, header = nrrd.read(str(path))
    directions = header.get("space directions")
    if directions is not None:
        spacing = tuple(
            float(np.linalg.norm(row)) for row in np.asarray(directions, dtype=float)[:2] if np.isfinite(row).all()
        )
    else:
        spacing = tuple(float(s) for s in header.get("spacings", ())[:2])
    return values, spacing


def _check_shape_budget(shape: tuple[int, ...], max_pixels: int, name: str) -> None:
    """Refuse volumes and oversized slices from the header alone, before the data are read."""
    _check_2d_shape(shape, name)
    check_pixel_budget(int(shape[1]), int(shape[0]), max_pixels, name)


def _check_2d_shape(shape: tuple[int, ...], name: str) -> None:
    extra = [s for s in shape[2:] if s != 1]
    if len(shape) < 2 or extra:
        raise UnsupportedImageError(
            f"{name}: array of shape {'x'.join(map(str, shape))} is a 3D volume or series; "
            "a single 2D radiograph (W x H or W x H x 1) is needed"
        )


def _as_2d(values: np.ndarray, name: str) -> np.ndarray:
    """The 2D slice of a ``W x H`` or ``W x H x 1`` array."""
    _check_2d_shape(values.shape, name)
    return values.reshape(values.shape[:2])
