"""Disc-segment localisation: an oriented crop per segment C2/3 .. C6/7, and heatmaps mapped back.

A crop is a rectangle aligned with the local spine axis: cranio-caudally from the middle of the upper body to the
middle of the lower body; from ``ANTERIOR_MARGIN_MM`` in front of the anterior body walls to
``POSTERIOR_MARGIN_MM`` behind the spinolaminar line, so discs, foramina and facet joints are inside (where the
study's Grad-CAM fell). Crops are oriented cranial up and anterior LEFT whichever way the patient faces (a crop
of a right-facing patient is a mirror image). Coordinates are pixels: image ``[x, y]`` = (column, row), crop
``[col, row]``, pixel centres on integers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage

from lib.anatomy.landmarks import estimate_landmarks
from lib.anatomy.levels import LevelReport, clean_levels, segment_status
from lib.anatomy.names import CORNERS, SEGMENTS, segment_bodies
from lib.core.errors import BadInputError

logger = logging.getLogger(__name__)

ANTERIOR_MARGIN_MM = 3.0
POSTERIOR_MARGIN_MM = 12.0  # past the spinolaminar line: the facets and the spinous-process base
TYPICAL_BODY_DEPTH_MM = 15.0  # clinical.md (C3-C5); turns the mm margins into body depths when spacing is unknown
CANAL_TO_DEPTH = 1.0  # canal about as deep as the body (Torg-Pavlov ratio about 1), used when no canal label


@dataclass(frozen=True)
class SegmentCrop:
    """An oriented crop. crop_to_image: float64 [2, 3] with ``[x, y] = M @ [col, row, 1]`` (native crop pixels,
    1 image pixel each); image_to_crop its inverse. size_px: (rows, cols) at native resolution."""

    segment: str
    crop_to_image: np.ndarray
    image_to_crop: np.ndarray
    size_px: Tuple[int, int]


@dataclass(frozen=True)
class NotEvaluable:
    """A segment that has no crop, and why (e.g. ``"C7 not found"``)."""

    segment: str
    reason: str


def _unit(vec: np.ndarray) -> np.ndarray:
    return vec / max(float(np.hypot(*vec)), 1e-9)


def _frame(upper: dict, lower: dict) -> Tuple[np.ndarray, np.ndarray]:
    """(cranial, anterior) unit vectors of a segment from the two bodies' posterior and anterior walls."""
    walls = [
        b[f"{side}_superior"] - b[f"{side}_inferior"] for b in (upper, lower) for side in ("posterior", "anterior")
    ]
    cranial = _unit(np.sum([_unit(w) for w in walls], axis=0))
    front = np.mean(
        [
            upper["anterior_inferior"] - upper["posterior_inferior"],
            lower["anterior_superior"] - lower["posterior_superior"],
        ],
        axis=0,
    )
    anterior = np.array([-cranial[1], cranial[0]])
    return cranial, anterior if anterior @ front > 0 else -anterior


def _margins_px(depth_px: float, spacing_mm: Optional[Sequence[float]]) -> Tuple[float, float]:
    """(anterior, posterior) margins in pixels: from mm when spacing is known, else in body-depth units."""
    if spacing_mm is None:
        per_mm = depth_px / TYPICAL_BODY_DEPTH_MM
    else:
        per_mm = 1.0 / float(np.sqrt(spacing_mm[0] * spacing_mm[1]))
    return ANTERIOR_MARGIN_MM * per_mm, POSTERIOR_MARGIN_MM * per_mm


def _segment_crop(segment: str, upper: dict, lower: dict, spacing_mm) -> SegmentCrop:
    up = {k: np.asarray(v, dtype=np.float64) for k, v in upper.items()}
    lo = {k: np.asarray(v, dtype=np.float64) for k, v in lower.items()}
    cranial, anterior = _frame(up, lo)
    depth_px = float(np.mean([(b["anterior_inferior"] - b["posterior_inferior"]) @ anterior for b in (up, lo)]))
    front_px, back_px = _margins_px(depth_px, spacing_mm)
    top = np.mean([up[c] for c in CORNERS], axis=0) @ cranial
    bottom = np.mean([lo[c] for c in CORNERS], axis=0) @ cranial
    front = max(b[c] @ anterior for b in (up, lo) for c in CORNERS if c.startswith("anterior")) + front_px
    if "spinolaminar" in up and "spinolaminar" in lo:
        back = min(up["spinolaminar"] @ anterior, lo["spinolaminar"] @ anterior) - back_px
    else:
        wall = min(b[c] @ anterior for b in (up, lo) for c in CORNERS if c.startswith("posterior"))
        back = wall - CANAL_TO_DEPTH * depth_px - back_px
    rows, cols = int(np.ceil(top - bottom)), int(np.ceil(front - back))
    if rows < 2 or cols < 2:
        raise BadInputError(f"{segment}: bodies overlap or are out of order (crop {rows} x {cols} px)")
    # Crop columns run posteriorly and rows caudally, so anterior is left and cranial up in the crop.
    posterior, caudal = -anterior, -cranial
    corner = front * anterior + top * cranial
    matrix = np.column_stack([posterior, caudal, corner + 0.5 * (posterior + caudal)])
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    return SegmentCrop(segment, matrix, inverse, (rows, cols))


def locate_segments(
    mask: np.ndarray,
    spacing_mm: Optional[Sequence[float]] = None,
    landmarks: Optional[Mapping[str, Mapping]] = None,
    report: Optional[LevelReport] = None,
) -> dict:
    """``{segment: SegmentCrop | NotEvaluable}`` for C2/3 .. C6/7.

    mask: uint8 [rows, cols] level map (cleaned by ``clean_levels`` here unless ``report`` is given).
    landmarks: from ``estimate_landmarks``; computed when not given. spacing_mm: (row_mm, col_mm) or None.
    """
    if report is None:
        report = clean_levels(mask, spacing_mm=spacing_mm)
    if landmarks is None:
        landmarks = estimate_landmarks(report.label_map, spacing_mm, report)
    status = segment_status(report.found, report.missing_reason)
    out = {}
    for segment in SEGMENTS:
        upper, lower = segment_bodies(segment)
        if not status[segment]["evaluable"]:
            out[segment] = NotEvaluable(segment, status[segment]["reason"])
        elif upper not in landmarks or lower not in landmarks:
            absent = " and ".join(lv for lv in (upper, lower) if lv not in landmarks)
            out[segment] = NotEvaluable(segment, f"{absent} found but its outline could not be fitted")
        else:
            try:
                out[segment] = _segment_crop(segment, landmarks[upper], landmarks[lower], spacing_mm)
            except BadInputError as exc:
                # Landmarks that cross (a misread body on a shifted film): this segment cannot be assessed, the
                # others can; refusing the whole film would hide the segments that were read well.
                out[segment] = NotEvaluable(segment, str(exc))
    return out


def _crop_points(crop: SegmentCrop, out_size: Tuple[int, int]) -> np.ndarray:
    """Image [x, y] of each output pixel centre: float64 [2, out_rows, out_cols]."""
    rows, cols = crop.size_px
    out_rows, out_cols = out_size
    r = (np.arange(out_rows) + 0.5) * rows / out_rows - 0.5
    c = (np.arange(out_cols) + 0.5) * cols / out_cols - 0.5
    m = crop.crop_to_image
    xs = m[0, 0] * c[None, :] + m[0, 1] * r[:, None] + m[0, 2]
    ys = m[1, 0] * c[None, :] + m[1, 1] * r[:, None] + m[1, 2]
    return np.stack([xs, ys])


def extract_crop(
    image: np.ndarray, crop: SegmentCrop, out_size: Optional[Tuple[int, int]] = None, fill: float = 0.0
) -> np.ndarray:
    """Bilinear resample of ``image`` (float [rows, cols]) into the crop: float32 [out_rows, out_cols].

    out_size defaults to the native ``crop.size_px``; pixels outside the image get ``fill``.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise BadInputError(f"image must be 2D [rows, cols]; got shape {image.shape}")
    out_size = tuple(out_size or crop.size_px)
    if len(out_size) != 2 or min(out_size) < 1:
        raise BadInputError(f"out_size must be two positive ints (rows, cols); got {out_size}")
    xs, ys = _crop_points(crop, out_size)
    # Only the bounding box of the crop is read, so the cost does not grow with the radiograph.
    x0, y0 = max(int(np.floor(xs.min())) - 1, 0), max(int(np.floor(ys.min())) - 1, 0)
    x1, y1 = int(np.ceil(xs.max())) + 2, int(np.ceil(ys.max())) + 2
    patch = np.asarray(image[y0:y1, x0:x1], dtype=np.float32)
    if patch.size == 0:
        return np.full(out_size, fill, dtype=np.float32)
    return ndimage.map_coordinates(patch, [ys - y0, xs - x0], order=1, mode="constant", cval=fill, output=np.float32)


def paste_heatmap(
    heatmaps: Mapping[str, np.ndarray], crops: Mapping[str, object], image_shape: Tuple[int, int]
) -> np.ndarray:
    """Map per-segment crop heatmaps (float [h, w], any size) onto the radiograph: float32 [rows, cols].

    Each heatmap is stretched over its crop and sampled bilinearly; where crops overlap the maximum is kept,
    outside every crop the value is 0. Segments without a ``SegmentCrop`` are skipped.
    """
    out = np.zeros(tuple(image_shape), dtype=np.float32)
    for segment, heat in heatmaps.items():
        crop = crops.get(segment)
        if not isinstance(crop, SegmentCrop):
            continue
        heat = np.asarray(heat, dtype=np.float32)
        if heat.ndim != 2:
            raise BadInputError(f"{segment}: heatmap must be 2D [h, w]; got shape {heat.shape}")
        _paste_one(out, heat, crop)
    return out


def _paste_one(out: np.ndarray, heat: np.ndarray, crop: SegmentCrop) -> None:
    rows, cols = crop.size_px
    box = (
        crop.crop_to_image
        @ np.array(
            [[-0.5, -0.5, 1], [cols - 0.5, -0.5, 1], [-0.5, rows - 0.5, 1], [cols - 0.5, rows - 0.5, 1]], dtype=float
        ).T
    )
    x0, y0 = np.maximum(np.floor(box.min(axis=1)).astype(int), 0)
    x1 = min(int(np.ceil(box[0].max())) + 1, out.shape[1])
    y1 = min(int(np.ceil(box[1].max())) + 1, out.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    m = crop.image_to_crop
    c = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    r = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    inside = (c >= -0.5) & (c <= cols - 0.5) & (r >= -0.5) & (r <= rows - 0.5)
    h, w = heat.shape
    values = ndimage.map_coordinates(
        heat, [(r + 0.5) * h / rows - 0.5, (c + 0.5) * w / cols - 0.5], order=1, mode="nearest", output=np.float32
    )
    region = out[y0:y1, x0:x1]
    np.maximum(region, np.where(inside, values, 0.0), out=region)
