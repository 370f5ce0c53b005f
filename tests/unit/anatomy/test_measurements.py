"""Measurements from landmarks on hand-built geometry with known answers."""

import math

import numpy as np
import pytest

from lib.anatomy.measurements import all_measurements, cervical_lordosis_deg, level_measurements, segment_measurements


def _spine(depth=16.0, height=14.0, disc=5.0, canal=15.0, shift_c4=0.0, tilt_c2_deg=0.0):
    """Axis-aligned bodies (facing left, y down, 1 px = 1 mm), C2 on top; optional C4 shift and C2 tilt."""
    marks, top = {}, 0.0
    for level in ("C2", "C3", "C4", "C5", "C6", "C7"):
        x_post = 100.0 + (-shift_c4 if level == "C4" else 0.0)  # anterior is smaller x
        corners = {
            "posterior_superior": [x_post, top],
            "posterior_inferior": [x_post, top + height],
            "anterior_superior": [x_post - depth, top],
            "anterior_inferior": [x_post - depth, top + height],
        }
        corners["spinolaminar"] = [x_post + canal, top + height / 2]
        marks[level] = corners
        top += height + disc
    if tilt_c2_deg:
        a = math.radians(tilt_c2_deg)
        pivot = np.array(marks["C2"]["posterior_inferior"])
        for name, p in marks["C2"].items():
            d = np.array(p) - pivot
            # Raise the anterior end (extension): rotate so negative x moves up (smaller y).
            marks["C2"][name] = list(
                pivot + [d[0] * math.cos(a) - d[1] * math.sin(a), d[0] * math.sin(a) + d[1] * math.cos(a)]
            )
    return marks


def _mirror(marks):
    return {lv: {k: [1000.0 - p[0], p[1]] for k, p in pts.items()} for lv, pts in marks.items()}


def test_canal_and_torg_pavlov_known_values():
    levels = level_measurements(_spine(canal=12.0, depth=16.0), (0.5, 0.5))
    c4 = levels["C4"]
    assert c4["canal_diameter_mm"] == pytest.approx(6.0)
    assert c4["body_depth_mm"] == pytest.approx(8.0)
    assert c4["torg_pavlov_ratio"] == pytest.approx(0.75)
    assert c4["torg_pavlov_stenosis"] is True
    assert c4["canal_absolute_stenosis"] is True


def test_unknown_spacing_gives_no_mm_but_ratios():
    levels = level_measurements(_spine(canal=16.0), None)
    assert levels["C5"]["canal_diameter_mm"] is None
    assert levels["C5"]["torg_pavlov_ratio"] == pytest.approx(1.0)
    segs = segment_measurements(_spine(shift_c4=4.0), None)
    assert segs["C4/5"]["listhesis_mm"] is None
    assert segs["C4/5"]["listhesis_pct"] == pytest.approx(25.0)


def test_disc_heights_and_listhesis_sign():
    segs = segment_measurements(_spine(disc=5.0, shift_c4=3.0), (1.0, 1.0))
    assert segs["C5/6"]["disc_height_middle_mm"] == pytest.approx(5.0)
    assert segs["C4/5"]["listhesis_mm"] == pytest.approx(3.0)  # C4 moved anteriorly over C5
    assert segs["C3/4"]["listhesis_mm"] == pytest.approx(-3.0)  # C3 sits behind the shifted C4
    assert segs["C4/5"]["listhesis_degenerative"] is True
    assert segs["C4/5"]["listhesis_unstable"] is False
    assert segs["C5/6"]["listhesis_degenerative"] is False


def test_lordosis_sign_independent_of_facing():
    marks = _spine(tilt_c2_deg=12.0)
    assert cervical_lordosis_deg(marks) == pytest.approx(12.0, abs=1e-6)
    assert cervical_lordosis_deg(_mirror(marks)) == pytest.approx(12.0, abs=1e-6)
    assert cervical_lordosis_deg(_spine(tilt_c2_deg=-8.0)) == pytest.approx(-8.0, abs=1e-6)
    segs = segment_measurements(marks, (1.0, 1.0))
    assert segs["C2/3"]["segmental_angle_deg"] == pytest.approx(12.0, abs=1e-6)
    assert segs["C2/3"]["segmental_angle_unstable"] is True
    assert segs["C4/5"]["segmental_angle_unstable"] is False


def test_missing_levels_are_left_out():
    marks = _spine()
    del marks["C7"]
    result = all_measurements(marks, (1.0, 1.0))
    assert "C6/7" not in result["segments"] and "C7" not in result["levels"]
    assert result["c2_c7_lordosis_deg"] is None
