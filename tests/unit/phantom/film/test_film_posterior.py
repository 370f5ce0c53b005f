"""Film-style posterior elements, body section and shoulders: the shapes a real lateral film shows."""

import numpy as np
import pytest

from lib.phantom.film.posterior import PILLAR_FRONT, film_spine_bones
from lib.phantom.film.spec import sample_film_patient
from lib.phantom.film.texture import _d_section, solid_body_paths


def _pillars(spec):
    _, paired = film_spine_bones(spec)
    return {b.name.split("_")[0]: b.outline_mm for b in paired if b.name.endswith("_pillar")}


def test_pillars_start_just_behind_the_posterior_wall(film_config):
    spec = sample_film_patient(film_config, 0)
    for level, outline in _pillars(spec).items():
        body = spec.spine.bodies[level]
        behind = (outline - body.posterior_mid) @ body.u  # mm in front of the wall (negative: behind it)
        assert behind.max() < 0.0, level
        assert behind.max() > -(PILLAR_FRONT * body.canal_mm + 1.5), level  # no gap between body and pillar
        assert behind.min() < -0.8 * body.canal_mm, level  # reaching back nearly to the spinolaminar line


def test_pillars_stack_into_a_column_with_thin_facet_gaps(film_config):
    spec = sample_film_patient(film_config, 1)
    pillars = _pillars(spec)
    for upper, lower in (("C3", "C4"), ("C4", "C5"), ("C5", "C6")):
        gaps = np.linalg.norm(pillars[upper][:, None, :] - pillars[lower][None, :, :], axis=-1)
        assert gaps.min() < 1.5, (upper, lower)


def test_the_body_section_is_flat_behind_and_round_in_front():
    x = np.array([-0.9, 0.9])
    back, front = _d_section(x, 0.0)
    assert back > 0.75 > front  # the beam runs along the posterior wall for most of the body's width


def test_the_shoulders_edge_falls_away_in_front_of_the_spine(film_config):
    spec = sample_film_patient(film_config, 0)
    c7 = spec.to_px(spec.spine.bodies["C7"].posterior_mid)
    s = spec.px_per_mm
    row = c7[1] + (spec.acquisition["shoulder_drop_mm"] + 2.0) * s  # just below the edge at C7
    ahead = c7[0] - spec.facing * 60.0 * s  # 60 mm towards the face
    weights = spec.shoulder_weight(np.array([c7[0], ahead]), np.array([row, row]))
    assert weights[0] > 0.0 and weights[1] == 0.0


def test_c2_and_its_dens_are_one_solid_with_no_shell_across_the_joint():
    body = np.array([[20.0, 40.0], [60.0, 40.0], [60.0, 80.0], [20.0, 80.0]])  # pixel frame, 1 px per mm
    dens = np.array([[30.0, 10.0], [50.0, 10.0], [50.0, 42.0], [30.0, 42.0]])
    args = ((100, 100), np.array([20.0, 60.0]), np.array([1.0, 0.0]), 40.0, 48.0, 1.0, 1.0)
    box, cortical, core, _ = solid_body_paths(body, *args, dens, 10.0)
    r0, c0 = box[0].start, box[1].start
    middle = cortical[60 - r0, 40 - c0]  # the side walls the beam crosses everywhere inside the body
    assert cortical[41 - r0, 40 - c0] == pytest.approx(middle)  # no endplate line between body and dens
    assert 0.0 < core[25 - r0, 40 - c0] < 0.5 * core[60 - r0, 40 - c0]  # the dens is narrower across the beam
    box, alone, _, _ = solid_body_paths(body, *args)
    assert alone[40 - box[0].start, 40 - box[1].start] > 3.0 * middle  # without the dens the endplate is a shell
