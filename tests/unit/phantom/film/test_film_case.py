"""A film's truth comes from the geometry it was drawn with."""

import dataclasses

import numpy as np
from scipy import ndimage

from lib.anatomy.measurements import all_measurements
from lib.phantom.film.case import film_level_mask
from lib.phantom.film.spec import sample_film_patient
from lib.phantom.truth import LABELS, landmarks_px


def test_labelled_bodies_are_drawn_bone(film_cases):
    for case in film_cases:
        assert case.spec.annotated_levels, case.spec.image_id
        for level in case.spec.annotated_levels:
            body = case.mask == LABELS[level]
            ring = ndimage.binary_dilation(body, iterations=8) & (case.mask == 0)
            assert body.sum() > 500, level
            assert np.median(case.line_integral[body]) > np.median(case.line_integral[ring]) + 0.15, level


def test_bodies_are_ordered_top_to_bottom_along_the_spine(film_cases):
    for case in film_cases:
        levels = list(case.spec.annotated_levels)
        centres = np.array([ndimage.center_of_mass(case.mask == LABELS[lv])[::-1] for lv in levels])  # (x, y)
        axis = centres[0] - centres[-1]
        axis /= np.linalg.norm(axis)
        heights = centres @ axis
        assert np.all(np.diff(heights) < 0), (case.spec.image_id, levels, heights)


def test_landmarks_and_measurements_follow_the_same_mapping(film_cases):
    for case in film_cases:
        spec = case.spec
        assert case.landmarks == landmarks_px(spec, list(spec.annotated_levels))
        again = all_measurements(case.landmarks, (spec.spacing_mm, spec.spacing_mm))
        assert again["levels"] == case.measurements["levels"]
        for level, points in case.landmarks.items():
            centre = np.mean([points[k] for k in ("anterior_superior", "posterior_inferior")], axis=0)
            x, y = np.round(centre).astype(int)
            if 0 <= y < case.mask.shape[0] and 0 <= x < case.mask.shape[1]:
                assert case.mask[y, x] == LABELS[level], level


def test_images_stay_within_their_bit_depth(film_cases):
    for case in film_cases:
        top = (1 << int(case.spec.acquisition["bits_stored"])) - 1
        assert case.stored.dtype == np.uint16 and int(case.stored.max()) <= top
        assert case.image.min() >= 0.0 and case.image.max() <= 1.0
        assert np.allclose(case.image, case.stored / top, atol=1e-6)
        assert case.image.std() > 0.05  # a picture, not a flat field


def test_a_film_facing_right_is_the_mirror_of_the_same_film_facing_left(film_config):
    left = sample_film_patient(film_config, 0)
    left = dataclasses.replace(left, facing=1.0, rotation_rad=0.0)
    cols = left.shape_px[1]
    mirrored_origin = np.array([cols - 1 - left.origin_px[0], left.origin_px[1]])
    right = dataclasses.replace(left, facing=-1.0, origin_px=mirrored_origin)
    mask_l, mask_r = film_level_mask(left), film_level_mask(right)
    assert (mask_l > 0).sum() > 1000
    assert np.mean(mask_r == mask_l[:, ::-1]) > 0.999
    marks_l = landmarks_px(left, list(left.annotated_levels))
    marks_r = landmarks_px(right, list(left.annotated_levels))
    for level, points in marks_l.items():
        for name, (x, y) in points.items():
            assert np.allclose(marks_r[level][name], [cols - 1 - x, y])
