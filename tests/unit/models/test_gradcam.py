"""Grad-CAM: works under no_grad, maps in [0, 1] of the crop shape, and its peak finds the evidence."""

import numpy as np
import pytest
import torch

from lib.anatomy.geometry import SegmentCrop
from lib.core.errors import BadInputError
from lib.models.classifier import compression_network
from lib.models.crops import COMPRESSION_INPUT_SIZE, normalise_crop
from lib.models.gradcam import gradcam_crops, heatmap_peak

ROWS, COLS = COMPRESSION_INPUT_SIZE


def _crop(rng, blob_at=None) -> np.ndarray:
    """Standardised noise, with a bright 12 px square centred at ``blob_at`` (row, col) when given."""
    image = rng.normal(0.0, 0.3, COMPRESSION_INPUT_SIZE)
    if blob_at is not None:
        r, c = blob_at
        image[r - 6 : r + 6, c - 6 : c + 6] += 3.0
    return normalise_crop(image)


@pytest.fixture(scope="module")
def blob_network():
    """A network trained for a few steps to call crops with a bright square anywhere "compressed"."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: extra threads only contend with other work
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    network = compression_network()
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    network.train()
    for _ in range(24):
        targets = rng.integers(0, 2, 16)
        places = [(rng.integers(10, ROWS - 10), rng.integers(10, COLS - 10)) for _ in targets]
        batch = np.stack([_crop(rng, p if t else None) for t, p in zip(targets, places)])[:, None]
        loss = loss_fn(network(torch.from_numpy(batch).float()), torch.from_numpy(targets[:, None]).float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.set_num_threads(threads)
    return network.eval()


def test_gradcam_enables_gradients_itself_and_keeps_the_mode(blob_network):
    rng = np.random.default_rng(1)
    crops = {"C3/4": _crop(rng, (40, 60)), "C5/6": _crop(rng)}
    blob_network.train()
    with torch.no_grad():
        maps = gradcam_crops(blob_network, crops)
    assert blob_network.training
    blob_network.eval()
    assert set(maps) == {"C3/4", "C5/6"}
    for heat in maps.values():
        assert heat.shape == COMPRESSION_INPUT_SIZE and heat.dtype == np.float32
        assert heat.min() >= 0.0 and heat.max() <= 1.0
    assert maps["C3/4"].max() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("blob_at", [(30, 40), (70, 180), (48, 112)])
def test_gradcam_peak_follows_the_evidence(blob_network, blob_at):
    crop = _crop(np.random.default_rng(2), blob_at)
    heat = gradcam_crops(blob_network, {"C4/5": crop})["C4/5"]
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    # The CAM layer has 16 x 16 px cells: the peak must fall within about one cell of the square.
    assert abs(row - blob_at[0]) <= 20 and abs(col - blob_at[1]) <= 20, (row, col)


def test_gradcam_refuses_a_wrong_crop_shape(blob_network):
    with pytest.raises(BadInputError, match="crop shape"):
        gradcam_crops(blob_network, {"C2/3": np.zeros((64, 64), np.float32)})


def test_heatmap_peak_maps_to_radiograph_pixels():
    # A crop rotated 90 degrees: crop columns run down the image (+y), crop rows run left (-x).
    matrix = np.array([[0.0, -1.0, 500.0], [1.0, 0.0, 100.0]])
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    crop = SegmentCrop("C4/5", matrix, inverse, (ROWS, COLS))
    heat = np.zeros(COMPRESSION_INPUT_SIZE, np.float32)
    heat[30, 50] = 1.0
    assert heat_peak_close(heatmap_peak(heat, crop), [500 - 30, 100 + 50])
    half = np.zeros((ROWS // 2, COLS // 2), np.float32)
    half[15, 25] = 1.0  # stretched 2x over the crop: centre of crop pixels 30.5, 50.5
    assert heat_peak_close(heatmap_peak(half, crop), [500 - 30.5, 100 + 50.5])


def heat_peak_close(got, want) -> bool:
    return np.allclose(got, want, atol=1e-6)
