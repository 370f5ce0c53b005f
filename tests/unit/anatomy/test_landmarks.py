"""Landmarks from level masks: exact on drawn rectangles, and measurements close to the phantom's truth."""

import numpy as np
import pytest
from skimage.measure import points_in_poly

from lib.anatomy.landmarks import estimate_landmarks
from lib.anatomy.measurements import level_measurements
from lib.phantom.config import cohort_config
from lib.phantom.patient import sample_patient
from lib.phantom.truth import landmarks_px, level_mask

DEPTH, HEIGHT, PITCH, CANAL = 110.0, 95.0, 135.0, 100.0  # px


def _fill(mask: np.ndarray, polygon: np.ndarray, value: int) -> None:
    """Set pixels whose centre lies inside ``polygon`` [N, 2] (x, y)."""
    x0, y0 = np.floor(polygon.min(axis=0)).astype(int)
    x1, y1 = np.ceil(polygon.max(axis=0)).astype(int) + 1
    ys, xs = np.mgrid[y0:y1, x0:x1]
    inside = points_in_poly(np.stack([xs.ravel(), ys.ravel()], axis=1), polygon).reshape(xs.shape)
    mask[y0:y1, x0:x1][inside] = value


def drawn_spine(tilt_deg: float = 12.0, faces_left: bool = True, shape=(1000, 800)):
    """Six rotated rectangles C2..C7 and a canal behind them; returns (mask, true landmarks)."""
    mask = np.zeros(shape, dtype=np.uint8)
    t = np.radians(tilt_deg)
    cranial = np.array([np.sin(t), -np.cos(t)])
    anterior = np.array([-cranial[1], cranial[0]]) * (-1.0 if faces_left else 1.0)
    truth, canal_front, canal_back = {}, [], []
    for i, level in enumerate(("C2", "C3", "C4", "C5", "C6", "C7")):
        # Off-grid centre: edges through pixel centres would make the rasterised outline ambiguous by 0.5 px.
        centre = np.array([shape[1] / 2.0 + 0.31, shape[0] / 2.0 + 0.27]) - ((i - 2.5) * PITCH) * cranial
        pm = centre - 0.5 * DEPTH * anterior
        corners = {
            "anterior_superior": centre + 0.5 * DEPTH * anterior + 0.5 * HEIGHT * cranial,
            "anterior_inferior": centre + 0.5 * DEPTH * anterior - 0.5 * HEIGHT * cranial,
            "posterior_superior": pm + 0.5 * HEIGHT * cranial,
            "posterior_inferior": pm - 0.5 * HEIGHT * cranial,
        }
        truth[level] = {**corners, "spinolaminar": pm - CANAL * anterior}
        canal_front += [corners["posterior_superior"], corners["posterior_inferior"]]
        canal_back += [
            corners["posterior_superior"] - CANAL * anterior,
            corners["posterior_inferior"] - CANAL * anterior,
        ]
    _fill(mask, np.array(canal_front + canal_back[::-1]), 7)
    for i, level in enumerate(truth):
        quad = np.array(
            [
                truth[level][k]
                for k in ("anterior_superior", "anterior_inferior", "posterior_inferior", "posterior_superior")
            ]
        )
        _fill(mask, quad, i + 1)
    return mask, truth


@pytest.mark.parametrize("tilt_deg, faces_left", [(0.0, True), (12.0, True), (-20.0, False), (30.0, False)])
def test_drawn_rectangles_give_exact_corners(tilt_deg, faces_left):
    mask, truth = drawn_spine(tilt_deg, faces_left)
    marks = estimate_landmarks(mask)
    assert sorted(marks) == sorted(truth)
    for level, points in truth.items():
        for name, point in points.items():
            error = np.hypot(*(np.asarray(marks[level][name]) - point))
            assert error < 0.5, (level, name, marks[level][name], point.tolist())


def test_facing_right_puts_anterior_corners_on_the_right():
    mask, _ = drawn_spine(0.0, faces_left=False)
    marks = estimate_landmarks(mask)
    for points in marks.values():
        assert points["anterior_superior"][0] > points["posterior_superior"][0] > points["spinolaminar"][0]


def test_no_canal_label_gives_corners_without_spinolaminar():
    mask, truth = drawn_spine(5.0)
    marks = estimate_landmarks(np.where(mask == 7, 0, mask).astype(np.uint8))
    assert all("spinolaminar" not in points for points in marks.values())
    assert np.hypot(*(np.asarray(marks["C4"]["anterior_inferior"]) - truth["C4"]["anterior_inferior"])) < 0.5


def test_phantom_measurements_match_the_truth():
    """Ten phantom patients, five per centre: landmarks from their own ground-truth masks vs their true landmarks."""
    canal_err, tpr_err, corner_err = [], [], []
    specs = [
        sample_patient(cohort_config(patients=5, seed=7, centre=centre), index)
        for centre in ("internal", "external")
        for index in range(5)
    ]
    for spec in specs:
        spacing = (spec.spacing_mm, spec.spacing_mm)
        truth = level_measurements(landmarks_px(spec, spec.annotated_levels), spacing)
        true_marks = landmarks_px(spec, spec.annotated_levels)
        marks = estimate_landmarks(level_mask(spec), spacing)
        found = level_measurements(marks, spacing)
        assert sorted(found) == sorted(truth)
        for level in truth:
            canal_err.append(found[level]["canal_diameter_mm"] - truth[level]["canal_diameter_mm"])
            tpr_err.append(found[level]["torg_pavlov_ratio"] - truth[level]["torg_pavlov_ratio"])
            corner_err += [np.hypot(*(np.subtract(marks[level][k], true_marks[level][k]))) for k in true_marks[level]]
    assert np.mean(np.abs(canal_err)) < 0.5 and np.max(np.abs(canal_err)) < 1.0
    assert np.mean(np.abs(tpr_err)) < 0.03
    assert np.max(corner_err) < 3.0  # px; the dens on C2 must not pull its superior corners
