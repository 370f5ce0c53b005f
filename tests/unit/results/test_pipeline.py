"""Pipeline JSON assembly on hand-built inputs: evaluable and not, unknown spacing, no spine, positive marking."""

import numpy as np
import pytest

from lib.anatomy.levels import segment_status
from lib.anatomy.measurements import all_measurements
from lib.anatomy.names import SEGMENTS, VERTEBRAE
from lib.results.pipeline import (
    NO_SPINE,
    POSITIVE_SEGMENT_LABELS,
    SPACING_UNKNOWN_WARNING,
    CompressionCalls,
    Measured,
    assemble_result,
    detector_spacing_mm,
    label_names_present,
    mark_positive_segments,
)

LEVELS = VERTEBRAE


def _landmarks(levels=LEVELS[:5]):
    """Upright bodies facing left: 100 px deep, 60 px tall, 20 px discs; spinolaminar 100 px behind the wall."""
    out = {}
    for i, level in enumerate(levels):
        top, bottom = 100 + 80 * i, 160 + 80 * i
        out[level] = {
            "anterior_superior": [100.0, top],
            "anterior_inferior": [100.0, bottom],
            "posterior_superior": [200.0, top],
            "posterior_inferior": [200.0, bottom],
            "spinolaminar": [300.0, (top + bottom) / 2],
        }
    return out


def _result(spacing=(0.15, 0.15), probabilities=None, found=LEVELS[:5], spine=True, compression_reason=None):
    radiograph = {"shape": [600, 400], "spacing_mm": spacing, "spacing_source": "ImagerPixelSpacing", "warnings": []}
    levels = {
        "cervical_spine_found": spine,
        "reason": "" if spine else "2 bodies",
        "found": list(found),
        "missing": [lv for lv in LEVELS if lv not in found],
    }
    measurements = all_measurements(_landmarks(found), spacing)
    if probabilities is None:
        probabilities = {"C2/3": 0.1, "C3/4": 0.7, "C4/5": 0.4, "C5/6": 0.9}
    peaks = {s: [150.0, 200.0] for s in probabilities}
    return assemble_result(
        levels,
        segment_status(found),
        radiograph,
        {"levels": "levels-1", "compression": "compression-1"},
        Measured(measurements),
        CompressionCalls(probabilities, peaks, 0.5, compression_reason),
    )


def test_segments_decisions_summary_and_versions():
    result = _result()
    seg = result["segments"]
    assert seg["C3/4"]["decision"] == "compressed" and seg["C2/3"]["decision"] == "not compressed"
    assert seg["C6/7"]["evaluable"] is False and seg["C6/7"]["reason"] == "C7 not found"
    assert seg["C6/7"]["probability"] is None and seg["C6/7"]["measurements"] is None
    assert result["summary"] == {
        "positive": True,
        "max_probability": 0.9,
        "positive_segments": ["C3/4", "C5/6"],
        "evaluable_segments": ["C2/3", "C3/4", "C4/5", "C5/6"],
    }
    assert result["result"] == "cord compression at C3/4, C5/6" and result["compression_called"]
    assert result["model_versions"] == {"levels": "levels-1", "compression": "compression-1"}
    assert result["threshold"] == 0.5 and seg["C3/4"]["threshold"] == 0.5 and seg["C3/4"]["heatmap_peak"] == [150, 200]


def test_measurements_per_segment_with_judgements_in_mm_when_spacing_known():
    m = _result()["segments"]["C4/5"]["measurements"]
    assert set(m["levels"]) == {"C4", "C5"}
    assert m["levels"]["C4"]["canal_diameter_mm"] == pytest.approx(15.0)  # 100 px x 0.15 mm
    assert m["levels"]["C4"]["canal_relative_stenosis"] is False and m["levels"]["C4"][
        "torg_pavlov_ratio"
    ] == pytest.approx(1.0)
    assert m["disc"]["disc_height_middle_mm"] == pytest.approx(3.0) and m["disc"]["disc_narrowed"] is True


def test_unknown_spacing_withholds_mm_and_says_so():
    result = _result(spacing=None)
    level = result["segments"]["C3/4"]["measurements"]["levels"]["C3"]
    assert level["canal_diameter_mm"] is None and level["canal_relative_stenosis"] is None
    assert level["torg_pavlov_ratio"] == pytest.approx(1.0)  # ratios need no spacing
    assert SPACING_UNKNOWN_WARNING in result["warnings"]
    assert SPACING_UNKNOWN_WARNING not in _result()["warnings"]


def test_no_spine_makes_no_compression_call():
    result = _result(spine=False, found=("C6", "C7"), probabilities={})
    assert result["result"] == NO_SPINE and result["cervical_spine_found"] is False
    assert result["compression_called"] is False and result["summary"]["positive"] is None
    assert all(e["reason"] == NO_SPINE and e["probability"] is None for e in result["segments"].values())


def test_missing_compression_model_keeps_measurements_and_says_why():
    result = _result(probabilities={}, compression_reason="compression model has no weights")
    assert result["result"] == "compression not assessed: compression model has no weights"
    assert result["segments"]["C3/4"]["reason"] == "compression model has no weights"
    assert result["segments"]["C3/4"]["measurements"] is not None and result["summary"]["positive"] is None


def test_detector_spacing_multiplies_patient_plane_spacing_by_the_magnification():
    spacing, note = detector_spacing_mm(
        (0.13, 0.13), "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor", 1.15
    )
    assert spacing == pytest.approx((0.1495, 0.1495)) and "magnification 1.15" in note
    assert detector_spacing_mm((0.15, 0.15), "ImagerPixelSpacing", 1.15)[0] == (0.15, 0.15)  # already detector
    assert detector_spacing_mm(None, "unknown", None) == (None, "unknown")


def test_positive_segment_is_painted_between_its_bodies_and_named_only_when_present():
    label = np.zeros((600, 400), dtype=np.uint8)
    label[100:160, 100:200] = 1  # C2
    label[180:240, 100:200] = 2  # C3
    marked = mark_positive_segments(label, _landmarks(), ["C2/3"])
    value = POSITIVE_SEGMENT_LABELS["C2/3 compression"]
    assert (marked[165:175, 110:290] == value).all()  # disc space and the canal behind it
    assert (marked[100:160, 100:200] == 1).all() and (marked[180:240, 100:200] == 2).all()  # bodies untouched
    assert not (marked[245:, :] == value).any()
    assert label_names_present(marked) == {"C2": 1, "C3": 2, "C2/3 compression": value}
    assert set(POSITIVE_SEGMENT_LABELS) == {f"{s} compression" for s in SEGMENTS}


def test_levels_out_of_view_and_the_c2_anchor_reach_the_json():
    # A film cut off above C4: C2 and C3 counted from C2, C4-C7 beyond the film's edge.
    found = ["C2", "C3"]
    levels = {
        "cervical_spine_found": True,
        "reason": "2 cervical levels found (C2-C3)",
        "found": found,
        "missing": ["C4", "C5", "C6", "C7"],
        "not_in_view": ["C4", "C5", "C6", "C7"],
        "c2_in_view": True,
        "read_upright_deg": 17.5,
        "read_zoomed_out": 1.6,
        "read_inverted": True,
    }
    why = {lv: "not in view" for lv in levels["missing"]}
    radiograph = {"shape": [600, 400], "spacing_mm": (0.15, 0.15), "spacing_source": "PixelSpacing", "warnings": []}
    result = assemble_result(levels, segment_status(found, why), radiograph, {"levels": "levels-1"})
    assert result["levels"] == {
        "found": found,
        "missing": ["C4", "C5", "C6", "C7"],
        "not_in_view": ["C4", "C5", "C6", "C7"],
        "c2_in_view": True,
        "read_upright_deg": 17.5,  # the column leaned: the levels network read it a second time, upright
        "read_zoomed_out": 1.6,  # and zoomed out: its bodies were larger than it was trained on
        "read_inverted": True,  # and bone was dark: the film was read turned over
    }
    assert result["segments"]["C3/4"]["reason"] == "C4 not in view"
    assert result["segments"]["C5/6"]["reason"] == "C5 and C6 not in view"
    assert _result()["levels"]["read_upright_deg"] == 0.0 and _result()["levels"]["read_zoomed_out"] == 1.0  # once
    assert _result()["levels"]["read_inverted"] is False
    assert _result()["levels"]["c2_in_view"] is False  # an answer that does not say so is not counted from C2
