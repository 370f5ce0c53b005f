"""Segment crops and per-segment reference labels: what the compression classifier sees and learns from.

A crop is ``lib.anatomy.geometry.locate_segments``'s oriented rectangle (mid upper body to mid lower body; 3 mm in front
of the anterior walls to 12 mm past the spinolaminar line; cranial up, anterior LEFT) resampled to
``COMPRESSION_INPUT_SIZE``. Intensity: each crop is standardised on its own, zero mean and unit standard
deviation over its pixels, so exposure and detector differences between films and centres do not reach the
network. Where a crop reaches past the film's edge (a tight crop, a collimated field: the posterior elements cut
off) the missing pixels take the mean of the pixels inside the film, not black: black would weigh on the
standardisation and the network never sees it in a film. Training keeps crops with extra context around them
(``context`` > 1) so that localisation error can be simulated by shifting, rotating and scaling inside that margin
(``lib.models.classifier.augment_batch``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from lib.anatomy.geometry import NotEvaluable, SegmentCrop, extract_crop, locate_segments
from lib.anatomy.names import SEGMENTS

logger = logging.getLogger(__name__)

COMPRESSION_INPUT_SIZE = (96, 224)  # rows, cols of one segment crop at the network input
MIN_CROP_STD = 1e-6  # a flat crop (all fill) is centred but not scaled


def fill_outside_film(values: np.ndarray) -> np.ndarray:
    """float32 [rows, cols] with NaN where the crop lies beyond the film -> the same, NaN replaced by the mean of
    the pixels inside (0 where none is inside)."""
    outside = np.isnan(values)
    if not outside.any():
        return values
    inside = values[~outside]
    return np.where(outside, np.float32(inside.mean()) if inside.size else np.float32(0.0), values).astype(np.float32)


def normalise_crop(crop: np.ndarray) -> np.ndarray:
    """float [rows, cols] -> float32 of the same shape, zero mean and unit standard deviation over the crop."""
    values = np.asarray(crop, dtype=np.float32)
    centred = values - values.mean()
    std = float(centred.std())
    return centred / std if std > MIN_CROP_STD else centred


def widen_crop(crop: SegmentCrop, context: float) -> SegmentCrop:
    """The same crop grown by ``context`` (e.g. 1.25) about its centre, keeping its axes and pixel size."""
    if context == 1.0:
        return crop
    rows, cols = crop.size_px
    new_rows, new_cols = int(round(rows * context)), int(round(cols * context))
    # Shift the origin so that the old centre stays the centre: offset in crop pixels (col, row).
    offset = np.array([-(new_cols - cols) / 2.0, -(new_rows - rows) / 2.0, 1.0])
    matrix = crop.crop_to_image.copy()
    matrix[:, 2] = crop.crop_to_image @ offset
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    return SegmentCrop(crop.segment, matrix, inverse, (new_rows, new_cols))


def segment_crops(
    pixels: np.ndarray, located: Mapping[str, object], context: float = 1.0, normalise: bool = True
) -> dict:
    """``{segment: (crop, SegmentCrop) | NotEvaluable}`` for C2/3 .. C6/7: the one way crops are cut, for the
    pipeline, the compression task and its trainer alike.

    pixels: float32 [rows, cols] radiograph in [0, 1], bone bright. located: ``lib.anatomy.geometry.locate_segments``
    output for this radiograph's level map. crop: float32 ``[96, 224]`` (times ``context`` when > 1), standardised
    when ``normalise``. The returned ``SegmentCrop`` is always the unwidened one (what heatmaps map back onto).
    """
    size = tuple(int(round(s * context)) for s in COMPRESSION_INPUT_SIZE)
    out = {}
    for segment in SEGMENTS:
        crop = located[segment]
        if isinstance(crop, NotEvaluable):
            out[segment] = crop
            continue
        # On the validation films' tight C2-C6 crops (20 films, segment AUC): black outside 0.914 (schematic
        # drawing 0.960), the inside mean 0.963 (0.973), the nearest film pixel 0.959; whole films unchanged.
        values = fill_outside_film(extract_crop(pixels, widen_crop(crop, context), size, fill=np.nan))
        out[segment] = (normalise_crop(values) if normalise else values, crop)
    return out


def segment_targets(image_info: Mapping, kang_threshold: int = 2, require_evaluable: bool = True) -> dict:
    """Binary reference per segment from an image's datastore info: ``{segment: 1 | 0 | None}``.

    1 when ``kang >= kang_threshold`` if a Kang grade is given, else the ``compression`` value (0/1); None when
    the segment is missing, has neither value, or (with ``require_evaluable``, as training needs) is marked
    ``"evaluable": false`` — a segment whose level the radiograph hides still has its MRI reference, which an
    evaluation keeps.
    """
    segments = (image_info or {}).get("segments") or {}
    out = {}
    for segment in SEGMENTS:
        entry = segments.get(segment)
        if not isinstance(entry, Mapping) or (require_evaluable and entry.get("evaluable", True) is False):
            out[segment] = None
        elif entry.get("kang") is not None:
            out[segment] = int(int(entry["kang"]) >= kang_threshold)
        elif entry.get("compression") is not None:
            out[segment] = int(bool(int(entry["compression"])))
        else:
            out[segment] = None
    return out


@dataclass
class CropSet:
    """Labelled crops in memory. crops: float16 [N, rows, cols] (raw intensities, widened by ``context``);
    targets: int64 [N] 0/1; patient_ids / segments: N strings each."""

    crops: np.ndarray
    targets: np.ndarray
    patient_ids: list = field(default_factory=list)
    segments: list = field(default_factory=list)
    context: float = 1.0

    def __len__(self) -> int:
        return int(len(self.targets))

    def counts(self) -> dict:
        return {"crops": len(self), "positive": int(self.targets.sum()), "patients": len(set(self.patient_ids))}


def build_crop_set(cases: Iterable[tuple], context: float = 1.25, kang_threshold: int = 2) -> CropSet:
    """Crops of every labelled, evaluable segment of ``cases``: iterable of
    ``(pixels [rows, cols] float32, mask [rows, cols] uint8, spacing_mm, image_info)``."""
    size = tuple(int(round(s * context)) for s in COMPRESSION_INPUT_SIZE)
    crops, targets, patients, names = [], [], [], []
    skipped = 0
    for pixels, mask, spacing_mm, info in cases:
        wanted = segment_targets(info, kang_threshold)
        found = segment_crops(pixels, locate_segments(mask, spacing_mm), context=context, normalise=False)
        for segment, target in wanted.items():
            entry = found[segment]
            if target is None or isinstance(entry, NotEvaluable):
                skipped += target is not None
                continue
            crops.append(entry[0].astype(np.float16))
            targets.append(target)
            patients.append(str(info.get("patient_id", "")))
            names.append(segment)
    if skipped:
        logger.info("%d labelled segments had no crop (a level missing from the final label)", skipped)
    array = np.stack(crops) if crops else np.zeros((0, *size), dtype=np.float16)
    return CropSet(array, np.asarray(targets, dtype=np.int64), patients, names, context)
