"""The film's pose and frame: one mapping for drawing and truth, within the ranges the issue asks for."""

import math

import numpy as np
import pytest

from lib.phantom.film.spec import (
    MAGNIFICATION_RANGE,
    MAX_ROTATION_DEG,
    SPACING_RANGE_MM,
    apply_posture,
    axis_tilt_rad,
    sample_film_patient,
)
from lib.phantom.patient import sample_patient


def test_to_mm_inverts_to_px(film_config):
    spec = sample_film_patient(film_config, 1)
    pts = np.array([[12.0, -30.0], [-5.5, 40.0], [0.0, 0.0]])
    assert np.allclose(spec.to_mm(spec.to_px(pts)), pts, atol=1e-9)


def test_same_config_and_index_give_the_same_film(film_config):
    a, b = sample_film_patient(film_config, 2), sample_film_patient(film_config, 2)
    assert (a.facing, a.rotation_rad, a.spacing_mm, a.shape_px) == (b.facing, b.rotation_rad, b.spacing_mm, b.shape_px)
    assert np.array_equal(a.origin_px, b.origin_px)


def test_films_keep_the_schematic_patients_labels(film_config):
    for i in range(4):
        film, base = sample_film_patient(film_config, i), sample_patient(film_config, i)
        for segment, entry in base.segments.items():
            assert film.segments[segment]["kang"] == entry["kang"]
            assert film.segments[segment]["compression"] == entry["compression"]


def test_pose_and_detector_stay_in_their_ranges(film_config):
    facings = set()
    for i in range(8):
        spec = sample_film_patient(film_config, i)
        facings.add(spec.facing)
        assert SPACING_RANGE_MM[0] <= spec.spacing_mm <= SPACING_RANGE_MM[1]
        assert MAGNIFICATION_RANGE[0] <= spec.magnification <= MAGNIFICATION_RANGE[1]
        # The spine axis on the image is off vertical by the film's own rotation only (within 20 degrees).
        assert abs(math.degrees(axis_tilt_rad(spec))) <= MAX_ROTATION_DEG + 1e-6
        assert spec.acquisition["bits_stored"] in (8, 10, 12, 14, 16)
        assert "C2" in spec.annotated_levels or spec.acquisition["field"] == "tight"
    assert facings == {1.0, -1.0}


def test_facing_right_puts_the_bodies_front_to_the_image_right(film_config):
    for i in range(8):
        spec = sample_film_patient(film_config, i)
        body = spec.spine.bodies["C4"]
        front = spec.to_px(body.corners["anterior_superior"])[0]
        back = spec.to_px(body.corners["posterior_superior"])[0]
        assert (front > back) == (spec.facing < 0)


@pytest.mark.parametrize("posture", [-15.0, 12.0])
def test_posture_turns_c2_against_c7_by_its_angle(film_config, posture):
    spec = sample_patient(film_config, 0)

    def c2_angle(s):
        u2, u7 = s.spine.bodies["C2"].u, s.spine.bodies["C7"].u
        return math.degrees(math.atan2(u2[1], u2[0]) - math.atan2(u7[1], u7[0]))

    before = c2_angle(spec)
    apply_posture(spec, posture)
    assert c2_angle(spec) - before == pytest.approx(posture, abs=1e-6)
    c7 = spec.spine.bodies["C7"]
    assert np.allclose(c7.u, sample_patient(film_config, 0).spine.bodies["C7"].u)  # C7 stays where it was


def test_shoulders_cover_below_their_edge_only(film_config):
    spec = sample_film_patient(film_config, 0)
    c7 = spec.to_px(spec.spine.bodies["C7"].posterior_mid)
    edge = c7[1] + spec.acquisition["shoulder_drop_mm"] * spec.px_per_mm
    ramp = spec.acquisition["shoulder_ramp_mm"] * spec.px_per_mm
    assert spec.shoulder_weight(np.array([c7[0]]), np.array([edge - 2.0]))[0] == 0.0
    assert spec.shoulder_weight(np.array([c7[0]]), np.array([edge + ramp + 2.0]))[0] == 1.0
