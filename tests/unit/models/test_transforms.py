"""Letterboxing into the network's input and back onto the radiograph's pixels."""

import numpy as np
import pytest
import torch

from lib.models.transforms import Letterbox, Letterboxd


def test_letterbox_keeps_aspect_and_pads_bottom_right():
    box = Letterbox.fit((1200, 933), (320, 256))
    assert box.scaled_shape == (320, 249)
    image = torch.ones(1, 1200, 933)
    boxed = box.apply(image)
    assert boxed.shape == (1, 320, 256)
    assert float(boxed[0, :, :249].min()) == pytest.approx(1.0) and float(boxed[0, :, 249:].max()) == 0.0


def test_restore_maps_probabilities_back_and_a_region_equals_the_full_restore():
    box = Letterbox.fit((600, 500), (320, 256))
    low = torch.rand(3, 320, 256)
    full = box.restore(low)
    assert full.shape == (3, 600, 500)
    region = box.restore_region(low, (100, 350), (40, 420))
    np.testing.assert_allclose(region.numpy(), full[:, 100:350, 40:420].numpy(), atol=1e-4)


def test_labels_use_nearest_and_keep_their_ids():
    label = np.zeros((1, 400, 300), np.uint8)
    label[0, 100:200, 50:150] = 3
    out = Letterboxd(("label",), (200, 160), label_keys=("label",))({"label": label})
    assert out["label"].dtype == torch.uint8 and set(torch.unique(out["label"]).tolist()) == {0, 3}
    assert out["letterbox"]["source_shape"] == (400, 300)
