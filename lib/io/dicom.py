"""DICOM radiographs (CR, DX, secondary capture) into the app's convention: see ``lib.io.radiograph``.

Order of operations follows DICOM PS3.3 C.11: stored values (masked to BitsStored), modality LUT
(rescale slope/intercept or LUT), VOI (window or VOI LUT), then presentation (MONOCHROME1 inverted).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut

from lib.core.errors import BadInputError, UnsupportedImageError
from lib.io.radiograph import Radiograph, auto_window, check_pixel_budget, rgb_to_grey, spacing_or_none, window_to_unit

logger = logging.getLogger(__name__)

# Modalities whose single images are slices of a 3D volume, never projection radiographs.
CROSS_SECTIONAL = {"CT", "MR", "PT", "NM", "US", "OCT"}
PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_METADATA_TAGS = (
    "Modality",
    "PhotometricInterpretation",
    "ViewPosition",
    "BodyPartExamined",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "BitsStored",
)
# VOI LUT functions of PS3.3 C.11.2.1.3 that pydicom's apply_voi_lut implements.
_VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
_WINDOW_BITS = 16  # output depth of the window view given to apply_voi_lut; its range is divided out again


def read_dicom(path: Path, max_pixels: int) -> Radiograph:
    """Read one single-frame DICOM image; see ``lib.io.reader.read_radiograph`` for the errors raised."""
    ds = _read_dataset(path)
    _check_is_radiograph(ds, path.name)
    check_pixel_budget(int(ds.Rows), int(ds.Columns), max_pixels, path.name)
    warnings: list[str] = []
    stored = _decode_pixels(ds, path.name)
    if stored.ndim == 3:
        grey = _colour_to_grey(stored, ds, warnings)
        pixels = window_to_unit(grey, 0.0, 255.0) if stored.dtype == np.uint8 else auto_window(grey)
    else:
        pixels = _grey_to_unit(_mask_bits_stored(stored, ds), ds, warnings)
    spacing, source, magnification = dicom_spacing(ds)
    metadata = {tag: str(ds.get(tag, "")) for tag in _METADATA_TAGS if tag in ds}
    if "SOPClassUID" in ds:
        metadata["SOPClass"] = getattr(ds.SOPClassUID, "name", str(ds.SOPClassUID))
    return Radiograph(pixels, spacing, source, magnification=magnification, metadata=metadata, warnings=warnings)


def _read_dataset(path: Path) -> pydicom.Dataset:
    try:
        # defer_size: pixel data stays on disk until the header has passed the checks.
        return pydicom.dcmread(str(path), defer_size="512 KB", force=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"{path.name}: not a readable DICOM file ({exc})") from None


def _check_is_radiograph(ds: pydicom.Dataset, name: str) -> None:
    if "SOPClassUID" not in ds and "Rows" not in ds:
        raise BadInputError(f"{name}: not a DICOM file (no SOP class and no image attributes)")
    if not any(tag in ds for tag in PIXEL_TAGS):
        sop = getattr(ds.get("SOPClassUID"), "name", ds.get("SOPClassUID", "unknown"))
        raise UnsupportedImageError(
            f"{name}: DICOM object has no pixel data (SOP class {sop}, modality {ds.get('Modality', 'unknown')}); "
            "a radiograph image is needed"
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise UnsupportedImageError(
            f"{name}: multi-frame DICOM with {frames} frames; a single-frame 2D radiograph is needed"
        )
    modality = str(ds.get("Modality", "")).upper()
    if modality in CROSS_SECTIONAL:
        raise UnsupportedImageError(
            f"{name}: modality {modality} is a slice of a 3D volume, "
            "not a projection radiograph (CR, DX or secondary capture)"
        )
    if "Rows" not in ds or "Columns" not in ds:
        raise UnsupportedImageError(f"{name}: DICOM image without Rows/Columns")


def _decode_pixels(ds: pydicom.Dataset, name: str) -> np.ndarray:
    syntax = getattr(ds.file_meta, "TransferSyntaxUID", None) if hasattr(ds, "file_meta") else None
    label = getattr(syntax, "name", syntax or "unknown transfer syntax")
    try:
        pixels = ds.pixel_array
    except (NotImplementedError, RuntimeError, ImportError) as exc:
        # pydicom's way of saying no installed decoder handles this transfer syntax: a kind this app cannot read.
        raise UnsupportedImageError(f"{name}: pixel data cannot be decoded ({label}): {exc}") from None
    except Exception as exc:  # short or inconsistent pixel data: the file itself is damaged
        raise BadInputError(f"{name}: DICOM pixel data is truncated or corrupt ({label}): {exc}") from None
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        raise UnsupportedImageError(f"{name}: pixel array of shape {pixels.shape} is not a 2D image")
    return pixels


def _mask_bits_stored(values: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """Keep only the BitsStored low bits: overlay or garbage in the high bits must not reach the model."""
    bits_stored = int(ds.get("BitsStored", 0) or 0)
    if not np.issubdtype(values.dtype, np.integer) or not 0 < bits_stored < values.dtype.itemsize * 8:
        return values
    mask = (1 << bits_stored) - 1
    unsigned = values.astype(np.int64) & mask
    if int(ds.get("PixelRepresentation", 0)) == 1:  # two's complement within BitsStored
        sign = 1 << (bits_stored - 1)
        unsigned = np.where(unsigned >= sign, unsigned - (1 << bits_stored), unsigned)
    return unsigned


def _colour_to_grey(values: np.ndarray, ds: pydicom.Dataset, warnings: list[str]) -> np.ndarray:
    """Grey levels of a colour image. YBR data (pydicom 2 returns it unconverted, compressed or not) already
    carries BT.601 luminance in its Y channel; RGB is converted with the same weights."""
    photometric = str(ds.get("PhotometricInterpretation", "RGB")).upper()
    if photometric.startswith("YBR"):
        warnings.append(f"colour image ({photometric}) reduced to its luminance channel")
        return values[..., 0].astype(np.float32)
    return rgb_to_grey(values, warnings)


def _grey_to_unit(stored: np.ndarray, ds: pydicom.Dataset, warnings: list[str]) -> np.ndarray:
    values = apply_modality_lut(stored, ds).astype(np.float32)
    if "VOILUTSequence" in ds:
        lut_out = apply_voi_lut(values.astype(np.int64) if "RescaleSlope" not in ds else values, ds, index=0)
        unit = window_to_unit(lut_out, float(np.min(lut_out)), float(np.max(lut_out)))
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        unit = _apply_window(values, ds)
    else:
        unit = auto_window(values)
        warnings.append("no window in the file: 0.5-99.5 percentile window used")
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        unit = 1.0 - unit  # MONOCHROME1: high values are displayed dark; bone must come out bright
    return unit


def _first(value) -> float:
    return float(value[0]) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else float(value)


def _apply_window(values: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """The first VOI window, applied by pydicom (PS3.3 C.11.2.1.2: LINEAR, LINEAR_EXACT or SIGMOID), to [0, 1]."""
    window = Dataset()
    # The window alone, on an unsigned 16-bit view without rescale: pydicom then maps it onto [0, 2**16 - 1]
    # whatever the file's bit depth, sign or rescale (the values are already modality values here), and
    # MONOCHROME1 is inverted by the caller after the VOI.
    window.PhotometricInterpretation = "MONOCHROME2"
    window.BitsStored, window.PixelRepresentation = _WINDOW_BITS, 0
    window.WindowCenter = _first(ds.WindowCenter)
    window.WindowWidth = max(_first(ds.WindowWidth), 1.0)  # a width under 1 (invalid for LINEAR) is taken as 1
    function = str(ds.get("VOILUTFunction", "LINEAR")).strip().upper()
    window.VOILUTFunction = function if function in _VOI_FUNCTIONS else "LINEAR"  # unknown functions: LINEAR
    return window_to_unit(apply_voi_lut(values, window), 0.0, float(2**_WINDOW_BITS - 1))


def dicom_spacing(ds: pydicom.Dataset) -> tuple[tuple[float, float] | None, str, float | None]:
    """``(spacing_mm, source, magnification)``: PixelSpacing (calibrated at the patient) first, then
    ImagerPixelSpacing divided by EstimatedRadiographicMagnificationFactor when given, else ImagerPixelSpacing
    as measured at the detector (the plane film thresholds were defined on). Zero or absent values: unknown."""
    magnification = None
    if "EstimatedRadiographicMagnificationFactor" in ds:
        try:
            factor = float(ds.EstimatedRadiographicMagnificationFactor)
            magnification = factor if factor > 0 else None
        except (TypeError, ValueError):
            magnification = None
    pixel_spacing = _pair(ds.get("PixelSpacing"))
    if pixel_spacing:
        return pixel_spacing, "PixelSpacing", magnification
    imager = _pair(ds.get("ImagerPixelSpacing"))
    if imager and magnification:
        return (
            (imager[0] / magnification, imager[1] / magnification),
            "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor",
            magnification,
        )
    if imager:
        return imager, "ImagerPixelSpacing", magnification
    return None, "unknown", magnification


def _pair(value) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        items = list(value) if not isinstance(value, (str, bytes)) else [value]
    except TypeError:
        items = [value]
    if len(items) == 1:
        items = items * 2
    return spacing_or_none(items[0], items[1]) if len(items) >= 2 else None
