"""Radiograph reader: every supported file becomes one convention the rest of the app trusts.

The convention (``Radiograph.pixels``): a 2D float32 array ``[rows, cols]`` in ``[0, 1]``, bone bright
(higher attenuation = higher value), after the file's own modality and VOI transforms. Pixel spacing comes
with where it was read from; a missing or zero spacing is the state ``"unknown"``, never a guess.

Supported: DICOM (CR, DX for presentation and for processing, secondary capture, any single-frame image
pydicom can decode, compressed transfer syntaxes included), PNG/JPEG/TIFF/BMP, NIfTI and NRRD holding a
single 2D slice. RGB input is converted to luminance (a screenshot or secondary capture of a radiograph
carries the same grey levels in every channel) and the conversion is recorded in ``warnings``.

Besides the measurement spacing, every radiograph read records its viewer geometry: the grid ITK (as 3D Slicer
does) reads the same file on (``lib.io.geometry``).
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np

from lib.core.errors import BadInputError, UnsupportedImageError
from lib.io import dicom as io_dicom
from lib.io import raster as io_raster
from lib.io.geometry import viewer_geometry_of
from lib.io.radiograph import SPACING_UNKNOWN, Radiograph

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 50_000_000


# File patterns of the radiographs this reader takes, as MONAI Label's datastore lists them (.dcm first).
RADIOGRAPH_EXTENSIONS = ("*.dcm", "*.nii.gz", "*.nii", "*.nrrd", "*.png", "*.jpg", "*.jpeg", "*.tif", "*.tiff")


def image_id_of(path) -> str:
    """The datastore id of a radiograph file: its name without a known (possibly double) extension."""
    name = Path(str(path)).name
    for suffix in sorted((e.lstrip("*") for e in RADIOGRAPH_EXTENSIONS), key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def sniff_format(path: Path) -> str:
    """Name the file format from its first bytes (and suffix for NIfTI): dicom, png, jpeg, tiff, bmp, nifti, nrrd."""
    with open(path, "rb") as f:
        head = f.read(352)
    name = path.name.lower()
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith(b"NRRD"):
        return "nrrd"
    if name.endswith(".nii.gz") or head.startswith(b"\x1f\x8b") and name.endswith(".gz"):
        return "nifti" if _gz_is_nifti(path) else "unknown"
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    if name.endswith(".dcm"):
        return "dicom"  # DICOM without the 128-byte preamble: pydicom reads it with force
    return "unknown"


def _gz_is_nifti(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(348)
    except OSError:
        return False
    return len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00")


def read_radiograph(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Radiograph:
    """Read any supported file, or a folder holding exactly one DICOM image, into the app's convention.

    Raises ``BadInputError`` (missing file, not an image), ``UnsupportedImageError`` (no pixel data,
    3D or multi-frame, undecodable) or ``ImageTooLargeError`` (more than ``max_pixels`` pixels, checked
    from the header before the pixels are decoded).
    """
    path = Path(path)
    if path.is_dir():
        path = single_dicom_in(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: the file is empty")
    fmt = sniff_format(path)
    if fmt == "dicom":
        image = io_dicom.read_dicom(path, max_pixels)
    elif fmt in ("png", "jpeg", "tiff", "bmp"):
        image = io_raster.read_raster(path, max_pixels)
    elif fmt in ("nifti", "nrrd"):
        image = io_raster.read_volume_slice(path, fmt, max_pixels)
    else:
        raise BadInputError(
            f"{path.name}: not a radiograph file this app reads; expected DICOM, PNG, JPEG, TIFF, BMP, NIfTI or NRRD"
        )
    return _finish(image, path, fmt)


def single_dicom_in(folder: Path) -> Path:
    """The one DICOM file in ``folder`` (how a DICOMweb datastore hands over a downloaded series).

    A radiograph series holds one image; zero or several DICOM files raise ``BadInputError`` naming the count.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and sniff_format(p) == "dicom")
    if len(files) != 1:
        raise BadInputError(
            f"{folder}: a radiograph folder must hold exactly one DICOM image; found {len(files)}"
            + (" (a multi-image series is not a single radiograph)" if files else "")
        )
    return files[0]


def _finish(image: Radiograph, path: Path, fmt: str) -> Radiograph:
    image.path, image.file_format = str(path), fmt
    pixels = image.pixels
    if not np.isfinite(pixels).all():
        raise UnsupportedImageError(f"{path.name}: pixel values include NaN or infinity")
    image.pixels = np.ascontiguousarray(np.clip(pixels, 0.0, 1.0), dtype=np.float32)
    if image.spacing_mm is None:
        image.spacing_source = SPACING_UNKNOWN
        image.warnings.append("pixel spacing unknown: measurements in mm are withheld")
    image.viewer_geometry = viewer_geometry_of(path, image.shape, image.spacing_mm, image.warnings)
    logger.debug("read %s: %s %s spacing %s (%s)", path.name, fmt, image.shape, image.spacing_mm, image.spacing_source)
    return image
