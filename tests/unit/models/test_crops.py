"""Segment crops for the compression model: shape, intensity, orientation, missing levels; reference targets."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from lib.anatomy.geometry import NotEvaluable, SegmentCrop, locate_segments
from lib.anatomy.names import LEVEL_LABELS, SEGMENTS, segment_bodies
from lib.models.classifier import centre_view
from lib.models.crops import (
    COMPRESSION_INPUT_SIZE,
    build_crop_set,
    segment_crops,
    segment_targets,
    widen_crop,
)
from lib.phantom.case import generate_patient
from lib.phantom.config import cohort_config


@pytest.fixture(scope="module")
def case():
    """A rendered phantom patient with all six levels annotated."""
    config = cohort_config(patients=20, seed=3)
    for index in range(20):
        case = generate_patient(config, index)
        if len(case.spec.annotated_levels) == 6:
            return case
    raise AssertionError("no phantom patient with C2-C7 among 20")


def test_crops_have_input_shape_and_are_standardised(case):
    crops = segment_crops(case.image, locate_segments(case.mask, case.spacing_mm))
    assert list(crops) == list(SEGMENTS)
    for segment, (pixels, crop) in crops.items():
        assert pixels.shape == COMPRESSION_INPUT_SIZE and pixels.dtype == np.float32
        assert abs(float(pixels.mean())) < 1e-4 and abs(float(pixels.std()) - 1.0) < 1e-3
        assert isinstance(crop, SegmentCrop) and crop.segment == segment


def test_crops_are_cranial_up_and_anterior_left(case):
    """Upper body in the top half, lower in the bottom half; bodies left of the spinal canal."""
    for segment, (_, crop) in segment_crops(case.image, locate_segments(case.mask, case.spacing_mm)).items():
        del crop
        upper, lower = (LEVEL_LABELS[v] for v in segment_bodies(segment))
        views = {}
        for name, ids in (
            ("upper", [upper]),
            ("lower", [lower]),
            ("bodies", [upper, lower]),
            ("canal", [LEVEL_LABELS["spinal_canal"]]),
        ):
            binary = np.isin(case.mask, ids).astype(np.float32)
            region = segment_crops(binary, locate_segments(case.mask, case.spacing_mm), normalise=False)[segment][0]
            views[name] = np.array(ndimage.center_of_mass(region)) / np.array(COMPRESSION_INPUT_SIZE)
        assert views["upper"][0] < 0.5 < views["lower"][0], segment
        assert views["bodies"][1] < views["canal"][1] < 0.8, segment


def test_missing_level_makes_its_segments_not_evaluable(case):
    mask = case.mask.copy()
    mask[mask == LEVEL_LABELS["C7"]] = 0
    crops = segment_crops(case.image, locate_segments(mask, case.spacing_mm))
    assert isinstance(crops["C6/7"], NotEvaluable) and "C7" in crops["C6/7"].reason
    assert all(not isinstance(crops[s], NotEvaluable) for s in SEGMENTS[:-1])


def test_widened_crop_centre_matches_the_plain_crop(case):
    plain = segment_crops(case.image, locate_segments(case.mask, case.spacing_mm))["C4/5"]
    wide = segment_crops(case.image, locate_segments(case.mask, case.spacing_mm), context=1.25, normalise=False)[
        "C4/5"
    ][0]
    assert wide.shape == (120, 280)
    view = centre_view(torch.from_numpy(wide)[None, None], 1.25)[0, 0].numpy()
    assert np.corrcoef(view.ravel(), plain[0].ravel())[0, 1] > 0.97
    grown = widen_crop(plain[1], 1.25)
    centre = lambda c: c.crop_to_image @ np.array([(c.size_px[1] - 1) / 2, (c.size_px[0] - 1) / 2, 1.0])  # noqa: E731
    assert np.allclose(centre(grown), centre(plain[1]), atol=0.75)


def test_targets_use_kang_threshold_then_compression_flag():
    info = {
        "segments": {
            "C2/3": {"compression": 0, "kang": 1, "evaluable": True},
            "C3/4": {"compression": 1, "kang": 2},
            "C4/5": {"compression": 1},
            "C5/6": {"compression": 1, "kang": 3, "evaluable": False},
        }
    }
    assert segment_targets(info) == {"C2/3": 0, "C3/4": 1, "C4/5": 1, "C5/6": None, "C6/7": None}
    assert segment_targets(info, kang_threshold=1)["C2/3"] == 1
    assert segment_targets(info, kang_threshold=3)["C3/4"] == 0
    assert segment_targets({}) == {s: None for s in SEGMENTS}


def test_crop_set_keeps_labelled_evaluable_segments(case):
    info = {"patient_id": "P1", "segments": {"C2/3": {"kang": 2}, "C3/4": {"kang": 0}, "C6/7": {"kang": 3}}}
    mask = case.mask.copy()
    mask[mask == LEVEL_LABELS["C7"]] = 0  # C6/7 is labelled but has no crop
    crops = build_crop_set([(case.image, mask, case.spacing_mm, info)], context=1.25)
    assert crops.crops.shape == (2, 120, 280) and crops.crops.dtype == np.float16
    assert crops.targets.tolist() == [1, 0] and crops.segments == ["C2/3", "C3/4"]
    assert crops.counts() == {"crops": 2, "positive": 1, "patients": 1}


def test_a_hidden_level_keeps_its_mri_reference_for_evaluation():
    from lib.models.crops import segment_targets

    info = {"segments": {"C6/7": {"compression": 1, "kang": 2, "evaluable": False}}}
    assert segment_targets(info)["C6/7"] is None  # nothing to train on: the radiograph hides C7
    assert segment_targets(info, require_evaluable=False)["C6/7"] == 1


def test_a_crop_past_the_films_edge_is_filled_with_the_films_mean_not_black(case):
    """A film cut just behind the canal (a tight crop): the crops reach past its edge, and what is missing takes the
    mean of what is inside, so the part inside is standardised as it would be on a film with nothing missing."""
    image, mask = case.image, case.mask
    canal_cols = np.nonzero((mask == LEVEL_LABELS["spinal_canal"]).any(axis=0))[0]
    if canal_cols.mean() < np.nonzero((mask == LEVEL_LABELS["C4"]).any(axis=0))[0].mean():
        # Facing right: mirrored, so the posterior side is on the right and cutting it off moves no crop.
        image, mask = image[:, ::-1].copy(), mask[:, ::-1].copy()
    located = locate_segments(mask, case.spacing_mm)
    # The cut: a quarter of a crop's width in from the posterior end of the crop that reaches least far back.
    posterior_ends = []
    for crop in located.values():
        rows, cols = crop.size_px
        xs = crop.crop_to_image[0] @ np.array([[0, cols, 0, cols], [0, 0, rows, rows], [1, 1, 1, 1]])
        posterior_ends.append(xs.max() - cols / 4)
    edge = int(min(posterior_ends))
    outside = np.zeros(image.shape, np.float32)  # what the cut film no longer has
    outside[:, edge:] = 1.0
    raw = segment_crops(image, located, normalise=False)
    cut = segment_crops(image[:, :edge], located, normalise=False)
    marked = segment_crops(outside, located, normalise=False)
    for segment, (values, _) in raw.items():
        filled = cut[segment][0]
        beyond, inside = marked[segment][0] > 0.999, marked[segment][0] == 0.0  # a sample touching the cut is neither
        assert beyond.mean() > 0.05, segment  # the cut does reach into this crop
        assert np.allclose(filled[beyond], filled[inside].mean(), atol=1e-4), segment
        assert np.allclose(filled[inside], values[inside], atol=1e-4), segment
