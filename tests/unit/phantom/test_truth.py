"""Ground truth agrees with the drawn anatomy."""

import copy
import json

import numpy as np
from scipy import ndimage

from lib.anatomy.measurements import all_measurements
from lib.phantom.scene import line_integral
from lib.phantom.truth import LABELS


def test_bodies_are_bright_bone(cases):
    for case in cases:
        for level in case.landmarks:
            body = case.mask == LABELS[level]
            ring = ndimage.binary_dilation(body, iterations=6) & (case.mask == 0)
            assert np.median(case.line_integral[body]) > np.median(case.line_integral[ring]) + 0.2, level


def test_canal_lies_between_wall_and_spinolaminar_line(cases):
    for case in cases:
        for level, pts in case.landmarks.items():
            wall = 0.5 * (np.array(pts["posterior_superior"]) + np.array(pts["posterior_inferior"]))
            laminar = np.array(pts["spinolaminar"])
            step = (laminar - wall) / np.linalg.norm(laminar - wall)
            inside = np.round(0.5 * (wall + laminar)).astype(int)
            behind = np.round(laminar + 4 * step).astype(int)
            in_body = np.round(wall - 4 * step).astype(int)
            assert case.mask[inside[1], inside[0]] == LABELS["spinal_canal"]
            assert case.mask[behind[1], behind[0]] != LABELS["spinal_canal"]
            assert case.mask[in_body[1], in_body[0]] == LABELS[level]


def test_landmarks_are_mask_corners(cases):
    for case in cases:
        for level, pts in case.landmarks.items():
            if level == "C2":
                continue  # the dens rises above the C2 superior corners
            ys, xs = np.nonzero(case.mask == LABELS[level])
            body = np.column_stack([xs, ys]).astype(float)
            centre = body.mean(axis=0)
            for name in ("anterior_superior", "anterior_inferior", "posterior_superior", "posterior_inferior"):
                corner = np.array(pts[name])
                direction = (corner - centre) / np.linalg.norm(corner - centre)
                reach = np.max((body - centre) @ direction)
                assert abs(reach - np.linalg.norm(corner - centre)) < 2.0, (level, name)
                assert np.min(np.linalg.norm(body - corner, axis=1)) < 2.0, (level, name)


def test_stored_measurements_come_from_landmarks(cases):
    for case in cases:
        fresh = all_measurements(case.landmarks, case.spacing_mm)
        stored = json.loads(json.dumps(case.measurements))
        for level, row in fresh["levels"].items():
            assert np.isclose(row["canal_diameter_mm"], stored["levels"][level]["canal_diameter_mm"])
        # Film canal = true canal x magnification: the landmarks match the drawn geometry.
        c4 = case.spec.spine.bodies["C4"]
        assert np.isclose(stored["levels"]["C4"]["canal_diameter_mm"], c4.canal_mm * case.magnification, rtol=1e-6)


def test_osteophytes_are_drawn_as_bone(cases):
    case = max(cases, key=lambda c: max(s["visible_features"]["osteophyte_mm"] for s in c.segments.values()))
    segment = max(case.segments, key=lambda s: case.segments[s]["visible_features"]["osteophyte_mm"])
    size_mm = case.segments[segment]["visible_features"]["osteophyte_mm"]
    assert size_mm > 1.0
    spec = copy.deepcopy(case.spec)
    spec.segments[segment]["visible_features"]["osteophyte_mm"] = 0.0
    without = line_integral(spec)
    upper = case.spec.spine.bodies[segment.split("/")[0]]
    spur_tip = upper.corners["posterior_inferior"] - 0.5 * size_mm * upper.u
    x, y = np.round(case.spec.to_px(spur_tip)).astype(int)
    assert case.line_integral[y, x] > without[y, x] + 0.1
    assert case.mask[y, x] != LABELS["spinal_canal"]


def test_hidden_bodies_are_unlabelled_and_not_evaluable(cases):
    from lib.phantom import label_record, protocol_config
    from lib.phantom.case import generate_patient

    config = protocol_config(3)
    index = next(i for i in range(600, 660) if label_record(config, i)["summary"]["shoulders_hide_c7"])
    case = generate_patient(config, index)
    assert not np.any(case.mask == LABELS["C7"])
    assert "C7" not in case.landmarks
    assert case.segments["C6/7"]["evaluable"] is False
    assert np.any(case.mask == LABELS["C6"]) and case.segments["C5/6"]["evaluable"] is True
