"""The pipeline's answer for one radiograph: per-segment JSON, patient summary, warnings, and the marked label map.

Pure functions: everything here works on plain values (level report fields, measurement dicts, probabilities),
so the assembly is tested without a network. ``lib.anatomy.measurements`` gives the values and their judgements; this
module only arranges them per disc segment.

Positive segments in the label map: each positive segment gets its own label value (``C2/3 compression`` = 8 ..
``C6/7 compression`` = 12), painted over the disc space and the canal behind it at that disc (the quadrilateral
between the upper body's inferior and the lower body's superior corners, extended posteriorly by the canal
diameter), only on background and canal pixels, so the level outlines stay intact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
from skimage.draw import polygon as fill_polygon

from lib.anatomy.names import FINDING_LABELS, LEVEL_LABELS, SEGMENTS, segment_bodies
from lib.io.labels import distinct_label_values

POSITIVE_SEGMENT_LABELS = FINDING_LABELS
PIPELINE_LABELS: dict[str, int] = {**LEVEL_LABELS, **POSITIVE_SEGMENT_LABELS}
NO_SPINE = "no lateral cervical spine found"
SPACING_UNKNOWN_WARNING = "pixel spacing unknown: measurements in mm are withheld"
MAGNIFIED_SOURCES = ("PixelSpacing", "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor")


def detector_spacing_mm(
    spacing_mm: Optional[Sequence[float]], spacing_source: str, magnification: Optional[float]
) -> tuple[Optional[tuple[float, float]], str]:
    """(row_mm, col_mm) in the detector (film) plane for the clinical mm thresholds, and how it was derived.

    The canal thresholds (13 mm, 10 mm) were defined on magnified film. The reader gives patient-plane spacing
    when it divided ImagerPixelSpacing by the magnification, or read PixelSpacing (calibrated at the patient);
    then detector_mm = spacing_mm * magnification. Without a magnification the spacing is used as read.
    """
    if spacing_mm is None:
        return None, "unknown"
    if magnification and spacing_source in MAGNIFIED_SOURCES:
        spacing = (float(spacing_mm[0]) * magnification, float(spacing_mm[1]) * magnification)
        return spacing, f"detector plane: {spacing_source} x magnification {magnification:g}"
    return (float(spacing_mm[0]), float(spacing_mm[1])), f"as read ({spacing_source}); no magnification applied"


def segment_measurements(measurements: Optional[Mapping], segment: str) -> Optional[dict]:
    """The measurements of one segment: its two levels' canal rows (diameter, Torg-Pavlov ratio, judgements)
    and the disc's heights, listhesis and segmental angle with their judgements; None without measurements."""
    if not measurements:
        return None
    upper, lower = segment_bodies(segment)
    levels = measurements.get("levels", {})
    return {
        "levels": {lv: dict(levels[lv]) for lv in (upper, lower) if lv in levels},
        "disc": dict(measurements.get("segments", {}).get(segment, {})) or None,
    }


def segment_entry(
    segment: str,
    status: Mapping,
    probability: Optional[float],
    threshold: Optional[float],
    measurements: Optional[Mapping],
    peak_xy: Optional[Sequence[float]],
) -> dict:
    """One segment's JSON. status: ``{"evaluable": bool, "reason": str}``; probability None when not assessed."""
    evaluable = bool(status["evaluable"]) and probability is not None
    positive = None if not evaluable or threshold is None else bool(probability >= threshold)
    return {
        "evaluable": evaluable,
        "reason": None if evaluable else status.get("reason") or "not assessed",
        "probability": None if probability is None else round(float(probability), 4),
        "threshold": threshold,
        "decision": None if positive is None else ("compressed" if positive else "not compressed"),
        "positive": positive,
        "measurements": segment_measurements(measurements, segment) if status["evaluable"] else None,
        "heatmap_peak": None if peak_xy is None else [round(float(v), 1) for v in peak_xy],
    }


def patient_summary(segments: Mapping[str, Mapping]) -> dict:
    """Patient level: positive if any segment is (design: score = max probability); None if nothing was assessed."""
    assessed = {s: e for s, e in segments.items() if e["positive"] is not None}
    positives = [s for s in SEGMENTS if s in assessed and assessed[s]["positive"]]
    probabilities = [e["probability"] for e in assessed.values()]
    return {
        "positive": bool(positives) if assessed else None,
        "max_probability": max(probabilities) if probabilities else None,
        "positive_segments": positives,
        "evaluable_segments": [s for s in SEGMENTS if s in assessed],
    }


def _headline(found_spine: bool, summary: Mapping, compression_reason: Optional[str]) -> str:
    if not found_spine:
        return NO_SPINE
    if summary["positive"] is None:
        return f"compression not assessed: {compression_reason or 'no evaluable segment'}"
    if summary["positive"]:
        return "cord compression at " + ", ".join(summary["positive_segments"])
    return "no cord compression found"


def merge_warnings(*groups: Sequence[str], spacing_known: bool = True) -> list:
    """All warnings once each, in order; the unknown-spacing warning is added when spacing is unknown."""
    out: list = []
    for group in groups:
        out += [w for w in group if w and w not in out]
    if not spacing_known and not any("spacing unknown" in w for w in out):
        out.append(SPACING_UNKNOWN_WARNING)
    return out


@dataclass(frozen=True)
class Measured:
    """What was measured: ``lib.anatomy.measurements.all_measurements`` (None when not measured), the spacing it
    was measured with (``detector_spacing_mm``'s note) and where its landmarks come from."""

    values: Optional[Mapping] = None
    spacing_note: str = "unknown"
    landmark_source: str = ""


@dataclass(frozen=True)
class CompressionCalls:
    """The classifier's answer: probabilities and Grad-CAM peaks of the assessed segments, the threshold of the
    weights that gave them, and (when none were computed) why."""

    probabilities: Mapping[str, float] = field(default_factory=dict)
    peaks: Mapping[str, Sequence[float]] = field(default_factory=dict)
    threshold: Optional[float] = None
    reason: Optional[str] = None


def assemble_result(
    levels: Mapping,
    status: Mapping[str, Mapping],
    radiograph: Mapping,
    versions: Mapping[str, str],
    measured: Measured = Measured(),
    calls: CompressionCalls = CompressionCalls(),
    warnings: Sequence[str] = (),
) -> dict:
    """The pipeline JSON.

    levels: ``{"cervical_spine_found", "reason", "found", "missing", "not_in_view", "c2_in_view"}``;
    status: ``lib.anatomy.levels.segment_status``;
    radiograph: ``Radiograph.describe()``; versions: model name -> version of the weights that answered.
    """
    measurements, probabilities, peaks = measured.values, calls.probabilities, calls.peaks
    threshold, compression_reason = calls.threshold, calls.reason
    found_spine = bool(levels["cervical_spine_found"])
    if not found_spine:
        status = {s: {"evaluable": False, "reason": NO_SPINE} for s in SEGMENTS}
        measurements, probabilities, peaks = None, {}, {}
    elif compression_reason:
        status = {
            s: {**st, "reason": st["reason"] if not st["evaluable"] else compression_reason} for s, st in status.items()
        }
    segments = {
        s: segment_entry(s, status[s], probabilities.get(s), threshold, measurements, peaks.get(s)) for s in SEGMENTS
    }
    summary = patient_summary(segments)
    spacing_known = radiograph.get("spacing_mm") is not None
    return {
        "model": "pipeline",
        "result": _headline(found_spine, summary, compression_reason),
        "cervical_spine_found": found_spine,
        "reason": levels.get("reason", ""),
        "compression_called": bool(probabilities),
        "levels": {
            "found": list(levels.get("found", [])),
            "missing": list(levels.get("missing", [])),
            "not_in_view": list(levels.get("not_in_view", [])),
            # Whether the names were counted from a C2 recognised on the film; False: the levels model's estimate.
            "c2_in_view": bool(levels.get("c2_in_view", False)),
            # Degrees the column leaned when the levels network read it a second time turned upright; 0.0: once.
            "read_upright_deg": float(levels.get("read_upright_deg", 0.0)),
            # The second look's view width against the input's: above 1 zoomed out (large bodies), below 1 zoomed
            # in (small ones); 1.0: not zoomed.
            "read_zoomed_out": float(levels.get("read_zoomed_out", 1.0)),
            # True when bone was dark and the film was read with its grey scale turned over (lib.models.polarity).
            "read_inverted": bool(levels.get("read_inverted", False)),
        },
        "segments": segments,
        "summary": summary,
        "threshold": threshold,
        "spine": None
        if not measurements
        else {"c2_c7_lordosis_deg": measurements.get("c2_c7_lordosis_deg"), "kyphosis": measurements.get("kyphosis")},
        "measurement_spacing": measured.spacing_note,
        "measurement_landmarks": measured.landmark_source if measurements else "",
        "model_versions": dict(versions),
        "radiograph": radiograph_block(radiograph),
        "warnings": merge_warnings(warnings, radiograph.get("warnings", []), spacing_known=spacing_known),
    }


def radiograph_block(radiograph: Mapping) -> dict:
    """The answer's ``radiograph``: shape, the measurement spacing (``spacing_mm`` [row, col], its source and the
    magnification it was divided by) and, apart from it, ``viewer_geometry``, the grid the label map carries."""
    keys = ("shape", "spacing_mm", "spacing_source", "magnification", "viewer_geometry")
    return {k: radiograph.get(k) for k in keys}


def label_names_present(label_hw: np.ndarray) -> dict:
    """``{name: value}`` for the values in the map only: Slicer names imported segments by position in this list."""
    present = distinct_label_values(label_hw)
    return {name: value for name, value in PIPELINE_LABELS.items() if value in present}


def disc_polygon_xy(landmarks: Mapping, segment: str) -> Optional[np.ndarray]:
    """Disc space plus the canal behind it: float [4, 2] image ``[x, y]``; None without both bodies' corners."""
    upper, lower = segment_bodies(segment)
    if upper not in landmarks or lower not in landmarks:
        return None
    up, lo = ({k: np.asarray(v, float) for k, v in landmarks[lv].items()} for lv in (upper, lower))
    back = []
    for body, corner in ((up, "posterior_inferior"), (lo, "posterior_superior")):
        wall_mid = 0.5 * (body["posterior_superior"] + body["posterior_inferior"])
        depth = 0.5 * (body["anterior_superior"] + body["anterior_inferior"]) - wall_mid
        # Pavlov's canal diameter where the spinolaminar point is known, else a typical canal (about one body depth).
        canal = body["spinolaminar"] - wall_mid if "spinolaminar" in body else -depth
        back.append(body[corner] + canal)
    return np.array([up["anterior_inferior"], back[0], back[1], lo["anterior_superior"]])


def mark_positive_segments(label_hw: np.ndarray, landmarks: Mapping, positive_segments: Sequence[str]) -> np.ndarray:
    """Copy of the uint8 level map with each positive segment's disc-and-canal region set to its own label value
    (``POSITIVE_SEGMENT_LABELS``); only background and canal pixels are painted."""
    out = np.array(label_hw, dtype=np.uint8, copy=True)
    paintable = (out == 0) | (out == LEVEL_LABELS["spinal_canal"])
    for segment in positive_segments:
        corners = disc_polygon_xy(landmarks, segment)
        if corners is None:
            continue
        rows, cols = fill_polygon(corners[:, 1], corners[:, 0], shape=out.shape)
        keep = paintable[rows, cols]
        out[rows[keep], cols[keep]] = POSITIVE_SEGMENT_LABELS[f"{segment} compression"]
    return out


def segment_anchor_xy(landmarks: Mapping, segment: str) -> Optional[list]:
    """Where to write a segment's text on an overlay: in front of the disc by about one body depth, [x, y]."""
    corners = disc_polygon_xy(landmarks, segment)
    if corners is None:
        return None
    front = 0.5 * (corners[0] + corners[3])
    back = 0.5 * (corners[1] + corners[2])
    return [float(v) for v in front + 0.6 * (front - back)]


def landmarks_json(landmarks: Mapping) -> dict:
    """The measured landmarks as JSON: ``{level: {point: [x, y]}}`` in radiograph pixels (x = column, y = row,
    2 decimals), so clients can draw the measured lines (the write-back SR places its SCOORDs on them)."""
    return {
        level: {name: [round(float(xy[0]), 2), round(float(xy[1]), 2)] for name, xy in points.items()}
        for level, points in landmarks.items()
    }
