"""Segment crops: known points land where expected, paste inverts extract, orientation is anatomical."""

import numpy as np
import pytest
from scipy import ndimage

from apps.cli.benchmarks.geometry import run_benchmark
from lib.anatomy.geometry import NotEvaluable, SegmentCrop, extract_crop, locate_segments, paste_heatmap
from lib.anatomy.names import SEGMENTS, segment_bodies
from lib.core.errors import BadInputError
from lib.phantom.config import cohort_config
from lib.phantom.patient import sample_patient
from lib.phantom.truth import level_mask


def _phantom_masks(curvature: str, count: int = 1, seed: int = 5):
    """Masks and spacings of the first phantom patients with a given neck curvature."""
    config, out = cohort_config(patients=60, seed=seed), []
    for index in range(60):
        spec = sample_patient(config, index)
        if spec.curvature == curvature and "C6" in spec.annotated_levels:
            out.append((level_mask(spec), (spec.spacing_mm, spec.spacing_mm)))
        if len(out) == count:
            return out
    raise AssertionError(f"no {curvature} phantom patient among 60")


@pytest.fixture(scope="module")
def lordotic():
    return _phantom_masks("lordotic")[0]


def _centre_of_mass(mask_hw: np.ndarray, crop: SegmentCrop) -> np.ndarray:
    """(row, col) centre of a binary image region inside the crop, as fractions of the crop size."""
    inside = extract_crop(mask_hw.astype(np.float32), crop)
    return np.array(ndimage.center_of_mass(inside)) / np.array(crop.size_px)


def test_known_point_lands_at_known_crop_pixel(lordotic):
    mask, spacing = lordotic
    crop = locate_segments(mask, spacing)["C4/5"]
    np.testing.assert_allclose(
        crop.image_to_crop @ np.append(crop.crop_to_image, [[0, 0, 1]], axis=0), np.eye(3)[:2], atol=1e-9
    )
    row, col = 40, 123
    x, y = crop.crop_to_image @ [col, row, 1.0]
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    image = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0**2)).astype(np.float32)
    native = extract_crop(image, crop)
    assert native.shape == crop.size_px and native.dtype == np.float32
    assert np.unravel_index(np.argmax(native), native.shape) == (row, col)
    half = extract_crop(image, crop, out_size=(crop.size_px[0] // 2, crop.size_px[1] // 2))
    assert np.unravel_index(np.argmax(half), half.shape) == (row // 2, col // 2)


def test_paste_inverts_extract(lordotic):
    mask, spacing = lordotic
    crops = locate_segments(mask, spacing)
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    image = (0.001 * xx + 0.002 * yy).astype(np.float32) + 0.5
    heatmaps = {s: extract_crop(image, c) for s, c in crops.items() if isinstance(c, SegmentCrop)}
    pasted = paste_heatmap(heatmaps, crops, image.shape)
    covered = pasted > 0
    interior = ndimage.binary_erosion(covered, iterations=2)
    assert interior.sum() > 0.5 * sum(c.size_px[0] * c.size_px[1] for c in crops.values() if isinstance(c, SegmentCrop))
    np.testing.assert_allclose(pasted[interior], image[interior], atol=2e-3)
    assert not covered[: int(yy[mask == 1].min())].any()  # nothing above the C2/3 crop's top (mid C2)


def test_overlapping_crops_keep_the_maximum(lordotic):
    mask, spacing = lordotic
    crop = locate_segments(mask, spacing)["C3/4"]
    heat = {"C3/4": np.full((8, 16), 0.3), "C4/5": np.full((4, 4), 0.7)}
    pasted = paste_heatmap(heat, {"C3/4": crop, "C4/5": crop}, mask.shape)
    np.testing.assert_allclose(np.unique(pasted), [0.0, 0.7], atol=1e-6)


def _check_orientation(mask: np.ndarray, crops: dict) -> None:
    for segment, crop in crops.items():
        upper, lower = (int(lv[1]) - 1 for lv in segment_bodies(segment))
        up, lo = _centre_of_mass(mask == upper, crop), _centre_of_mass(mask == lower, crop)
        canal = _centre_of_mass(mask == 7, crop)
        assert up[0] < 0.35 and lo[0] > 0.65, (segment, "cranial must be up", up, lo)
        assert up[1] < canal[1] and lo[1] < canal[1], (segment, "anterior must be left", up, lo, canal)
        assert 0.3 < canal[1] < 0.85, (segment, "the crop must reach past the canal", canal)


@pytest.mark.parametrize("curvature", ["lordotic", "kyphotic", "sigmoid"])
@pytest.mark.parametrize("mirror", [False, True])
def test_cranial_up_anterior_left(curvature, mirror):
    mask, spacing = _phantom_masks(curvature)[0]
    mask = np.ascontiguousarray(mask[:, ::-1]) if mirror else mask  # mirrored: the patient faces right
    crops = {s: c for s, c in locate_segments(mask, spacing).items() if isinstance(c, SegmentCrop)}
    assert {"C2/3", "C3/4", "C4/5", "C5/6"} <= set(crops)
    _check_orientation(mask, crops)


@pytest.mark.parametrize("angle_deg", [-25.0, 25.0])
def test_tilted_spine(lordotic, angle_deg):
    mask, spacing = lordotic
    tilted = ndimage.rotate(mask, angle_deg, order=0, reshape=True)
    crops = {s: c for s, c in locate_segments(tilted, spacing).items() if isinstance(c, SegmentCrop)}
    assert len(crops) >= 4
    _check_orientation(tilted, crops)


def test_missing_c7_makes_c67_not_evaluable(lordotic):
    mask, spacing = lordotic
    crops = locate_segments(np.where(mask == 6, 0, mask).astype(np.uint8), spacing)
    assert crops["C6/7"] == NotEvaluable("C6/7", "C7 not found")
    assert all(isinstance(crops[s], SegmentCrop) for s in SEGMENTS[:4])


def test_crop_size_follows_spacing_or_body_depth(lordotic):
    mask, spacing = lordotic
    known = locate_segments(mask, spacing)["C4/5"]
    unknown = locate_segments(mask, None)["C4/5"]
    coarse = locate_segments(mask, (2 * spacing[0], 2 * spacing[1]))["C4/5"]
    assert known.size_px[0] == unknown.size_px[0]  # cranio-caudal extent does not depend on margins
    assert coarse.size_px[1] < known.size_px[1]  # mm margins are fewer pixels on a coarser grid
    assert abs(unknown.size_px[1] - known.size_px[1]) < 0.2 * known.size_px[1]


def test_bad_inputs_and_benchmark(lordotic):
    mask, spacing = lordotic
    crop = locate_segments(mask, spacing)["C3/4"]
    with pytest.raises(BadInputError, match="2D"):
        extract_crop(np.zeros((3,) + mask.shape), crop)
    with pytest.raises(BadInputError, match="out_size"):
        extract_crop(mask, crop, out_size=(0, 5))
    result = run_benchmark(repeats=1)
    assert result["total_ms"] > 0 and result["mask_shape"][0] > 500


def test_crossing_landmarks_make_one_segment_not_evaluable(lordotic):
    # A misread film can give a lower body whose landmarks lie above the upper one's: that segment has no crop
    # and says why; the film's other segments are still located.
    from lib.anatomy.landmarks import estimate_landmarks
    from lib.anatomy.levels import clean_levels

    mask, spacing = lordotic
    report = clean_levels(mask, spacing_mm=spacing)
    landmarks = estimate_landmarks(report.label_map, spacing, report)
    landmarks["C5"] = {k: list(v) for k, v in landmarks["C3"].items()}  # C5 drawn on top of C3
    crops = locate_segments(report.label_map, spacing, landmarks, report)
    assert isinstance(crops["C4/5"], NotEvaluable) and "bodies overlap or are out of order" in crops["C4/5"].reason
    assert isinstance(crops["C2/3"], SegmentCrop) and isinstance(crops["C3/4"], SegmentCrop)
