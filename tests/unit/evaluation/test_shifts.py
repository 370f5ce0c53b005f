"""The department shifts of the robustness benchmark: labels move with the pixels, intensities leave them alone."""

import numpy as np
import pytest

from lib.anatomy.levels import multilabel_dice
from lib.core.errors import BadInputError, BadParameterError
from lib.evaluation.shifts import SHIFTS, noise_sigma, rescaled, shift_named, tight_crop


@pytest.fixture
def film():
    """A 200 x 150 film whose bright blobs are exactly its labelled bodies (C2 tall at the top, C3..C7 below),
    off-centre so that a flip or rotation that forgot to move the labels would show; plus mild noise."""
    label = np.zeros((200, 150), dtype=np.uint8)
    label[20:50, 30:60] = 1  # C2
    for k in range(5):  # C3..C7, one pitch apart
        label[58 + 26 * k : 76 + 26 * k, 32 + 3 * k : 62 + 3 * k] = k + 2
    image = np.where(label > 0, 0.8, 0.2).astype(np.float32)
    image += np.random.default_rng(1).normal(0, 0.01, image.shape).astype(np.float32)
    return np.clip(image, 0, 1), label, (0.2, 0.2)


@pytest.mark.parametrize("name", sorted(SHIFTS))
def test_every_shift_keeps_pixels_and_labels_together(film, name):
    image, label, spacing = film
    out, moved, new_spacing = shift_named(name).apply(image, label, spacing)
    assert out.dtype == np.float32 and out.ndim == 2 and moved.shape == out.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    bright = out > 0.5 if name != "inverted" else out < 0.5
    dice = multilabel_dice((bright & (moved > 0)).astype(np.uint8), (moved > 0).astype(np.uint8), {"body": 1})
    assert dice["body"] > 0.9, f"{name}: the labels no longer lie on the bodies (Dice {dice['body']:.2f})"
    if not SHIFTS[name].moves_labels:
        np.testing.assert_array_equal(moved, label)
        assert new_spacing == spacing


def test_a_shift_that_moves_labels_is_flagged_so(film):
    image, label, spacing = film
    for name, shift in SHIFTS.items():
        _, moved, _ = shift.apply(image, label, spacing)
        changed = moved.shape != label.shape or not np.array_equal(moved, label)
        assert changed == shift.moves_labels, name


def test_mirror_flips_and_rotation_turns(film):
    image, label, spacing = film
    out, moved, _ = SHIFTS["mirrored"].apply(image, label, spacing)
    np.testing.assert_array_equal(moved, label[:, ::-1])
    np.testing.assert_array_equal(out, image[:, ::-1])
    _, turned, _ = SHIFTS["rotated_20"].apply(image, label, spacing)
    assert turned.shape[0] > label.shape[0] and turned.shape[1] > label.shape[1]  # the canvas grew
    c2, c7 = (np.argwhere(turned == i).mean(axis=0) for i in (1, 6))
    angle = np.degrees(np.arctan2(c7[1] - c2[1], c7[0] - c2[0]))  # column over row: 0 for a vertical stack
    before = np.degrees(np.arctan2(*(np.argwhere(label == 6).mean(0) - np.argwhere(label == 1).mean(0))[::-1]))
    assert abs(abs(angle - before) - 20.0) < 2.0
    assert set(np.unique(turned)) == set(np.unique(label)), "nearest neighbour keeps ids ids"


def test_resampling_rescales_the_spacing(film):
    image, label, spacing = film
    half, half_label, half_spacing = SHIFTS["half_resolution"].apply(image, label, spacing)
    assert half.shape == (100, 75) and half_label.shape == (100, 75) and half_spacing == pytest.approx((0.4, 0.4))
    up, _, up_spacing = SHIFTS["upsampled_1.5"].apply(image, label, spacing)
    assert up.shape == (300, 225) and up_spacing == pytest.approx((0.2 / 1.5, 0.2 / 1.5))
    assert SHIFTS["half_resolution"].apply(image, label, None)[2] is None  # unknown stays unknown
    with pytest.raises(BadParameterError, match="factor"):
        rescaled(image, label, spacing, 0.0)


def test_intensity_shifts(film):
    image, label, spacing = film
    np.testing.assert_allclose(SHIFTS["inverted"].apply(image, label, spacing)[0], 1.0 - image, atol=1e-6)
    np.testing.assert_allclose(SHIFTS["gamma_1.6"].apply(image, label, spacing)[0], image**1.6, rtol=1e-5)
    assert (SHIFTS["gamma_0.6"].apply(image, label, spacing)[0] >= image - 1e-6).all()
    jpeg = SHIFTS["jpeg_8bit"].apply(image, label, spacing)[0]
    np.testing.assert_allclose(jpeg * 255, np.round(jpeg * 255), atol=1e-3)  # 256 grey levels
    assert np.abs(jpeg - image).mean() < 0.02
    noisy = SHIFTS["doubled_noise"].apply(image, label, spacing)[0]
    assert noise_sigma(noisy) == pytest.approx(2 * noise_sigma(image), rel=0.15)
    np.testing.assert_array_equal(noisy, SHIFTS["doubled_noise"].apply(image, label, spacing)[0])  # seeded


def test_tight_crop_keeps_c2_to_c6_and_cuts_c7(film):
    image, label, spacing = film
    out, moved, new_spacing = tight_crop(image, label, spacing)
    for level_id in range(1, 6):  # C2..C6 whole
        assert (moved == level_id).sum() == (label == level_id).sum()
    assert (moved == 6).sum() < (label == 6).sum() and out.shape[0] < image.shape[0]
    assert new_spacing == spacing
    with pytest.raises(BadInputError, match="labels"):
        tight_crop(image, None, spacing)
    with pytest.raises(BadInputError, match="C2, C3"):
        tight_crop(image, np.zeros_like(label), spacing)


def test_bad_inputs_name_the_problem(film):
    image, label, spacing = film
    with pytest.raises(BadInputError, match="2D"):
        SHIFTS["mirrored"].apply(image[None], label, spacing)
    with pytest.raises(BadInputError, match="differ in shape"):
        SHIFTS["mirrored"].apply(image, label[:10], spacing)
    with pytest.raises(BadInputError, match="spacing"):
        SHIFTS["none"].apply(image, label, (0.0, 0.2))
    with pytest.raises(BadParameterError, match="unknown shift 'sideways'"):
        shift_named("sideways")
