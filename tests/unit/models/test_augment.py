"""Domain randomisation: image and labels move together, intensities stay in [0, 1], each transform does its job."""

import numpy as np
import pytest
import torch
from monai.transforms import Compose, RandAffined, RandFlipd

from lib.models.augment import (
    RandEqualizeHistogramd,
    RandFieldOfViewCropd,
    RandInvertd,
    RandJpegd,
    RandSpineCropd,
    RandTextd,
    equalize_histogram,
    film_augmentations,
)


def _sample(rows=320, cols=256):
    label = np.zeros((1, rows, cols), dtype=np.float32)
    for k in range(6):  # six stacked "bodies", ids 1..6
        label[0, 40 + 40 * k : 70 + 40 * k, 100:150] = k + 1
    image = 0.2 + 0.1 * (label > 0)
    return {"image": torch.as_tensor(image), "label": torch.as_tensor(label)}


def test_composed_randomisation_keeps_shape_range_labels_and_alignment():
    augment = film_augmentations()
    augment.set_random_state(seed=0)
    for _ in range(12):
        out = augment(_sample())
        image, label = torch.as_tensor(out["image"]), torch.as_tensor(out["label"])
        assert image.shape == (1, 320, 256) and label.shape == (1, 320, 256)
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
        assert set(torch.unique(label).tolist()) <= set(range(7))  # nearest neighbour: no new label values


def test_geometry_moves_image_and_label_together():
    geometric = Compose(
        [
            RandFlipd(("image", "label"), prob=1.0, spatial_axis=1),
            RandAffined(("image", "label"), prob=1.0, rotate_range=0.35, mode=("bilinear", "nearest")),
        ]
    )
    geometric.set_random_state(seed=3)
    out = geometric(_sample())
    bright = torch.as_tensor(out["image"])[0] > 0.25
    labelled = torch.as_tensor(out["label"])[0] > 0
    agree = (bright == labelled).float().mean()
    assert float(agree) > 0.98


def test_same_seed_same_result():
    a, b = film_augmentations(), film_augmentations()
    a.set_random_state(seed=7)
    b.set_random_state(seed=7)
    assert torch.equal(torch.as_tensor(a(_sample())["image"]), torch.as_tensor(b(_sample())["image"]))


def test_invert_flips_polarity_and_leaves_labels():
    out = RandInvertd("image", prob=1.0)(_sample())
    assert torch.allclose(out["image"], 1.0 - _sample()["image"])
    assert torch.equal(out["label"], _sample()["label"])


def test_jpeg_round_trip_is_close_but_not_exact():
    rng = np.random.default_rng(0)
    image = torch.as_tensor(np.clip(rng.normal(0.5, 0.2, (1, 128, 96)), 0, 1).astype(np.float32))
    jpeg = RandJpegd("image", prob=1.0, quality=(20, 20))
    out = jpeg({"image": image})["image"]
    assert out.shape == image.shape and out.dtype == image.dtype
    assert 0.0 < float((out - image).abs().mean()) < 0.2


def test_text_is_burned_into_a_corner_only():
    text = RandTextd("image", prob=1.0)
    text.set_random_state(seed=1)
    image = torch.full((1, 320, 256), 0.5)
    out = text({"image": image})["image"]
    changed = (out != 0.5)[0]
    assert changed.any()
    rows, cols = torch.nonzero(changed, as_tuple=True)
    # Markers sit near the top or bottom edge, never across the middle of the film.
    assert bool(((rows < 0.15 * 320) | (rows > 0.85 * 320)).all())


def test_field_of_view_crop_cuts_image_and_label_alike():
    crop = RandFieldOfViewCropd(("image", "label"), prob=1.0, fraction=(0.6, 0.6))
    crop.set_random_state(seed=2)
    sample = _sample()
    out = crop(sample)
    assert out["image"].shape == out["label"].shape == (1, 192, 154)
    assert torch.equal(out["image"] > 0.25, out["label"] > 0)


def test_spine_crop_frames_the_bodies_with_the_drawn_margins():
    label = torch.zeros((1, 200, 160))
    label[0, 40:160, 60:90] = 3  # the bodies' box: rows 40-160, columns 60-90
    label[0, 70:130, 95:105] = 7  # canal: not a body, does not widen the box
    image = (label > 0).float() * 0.8
    crop = RandSpineCropd(("image", "label"), prob=1.0, row_margin=(-0.1, -0.1), col_margin=(0.5, 0.5))
    out = crop({"image": image, "label": label})
    # 12 rows cut off the top and bottom of the box; 15 columns added each side.
    assert out["image"].shape == out["label"].shape == (1, 96, 60)
    assert torch.equal(out["image"], image[..., 52:148, 45:105]) and torch.equal(
        out["label"], label[..., 52:148, 45:105]
    )
    empty = {"image": torch.rand((1, 50, 40)), "label": torch.zeros((1, 50, 40))}
    assert crop(empty)["image"].shape == (1, 50, 40)  # nothing to frame: the film is left whole


def test_histogram_equalisation_spreads_values_over_the_range():
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(0.3, 0.02, (1, 64, 64)), 0, 1).astype(np.float32)
    out = equalize_histogram(image)
    assert out.shape == image.shape
    assert out.min() < 0.05 and out.max() > 0.95
    assert np.corrcoef(out.ravel(), image.ravel())[0, 1] > 0.9


def test_the_equalisation_transform_equalises_the_image_and_leaves_the_label():
    sample = _sample()
    out = RandEqualizeHistogramd("image", prob=1.0)(sample)
    assert torch.allclose(torch.as_tensor(out["image"]), torch.as_tensor(equalize_histogram(sample["image"])))
    assert torch.equal(out["label"], sample["label"])


@pytest.mark.parametrize(
    "transform",
    [RandInvertd("image", prob=0.0), RandJpegd("image", prob=0.0), RandEqualizeHistogramd("image", prob=0.0)],
)
def test_at_probability_zero_nothing_changes(transform):
    sample = _sample()
    assert torch.equal(transform(sample)["image"], sample["image"])
