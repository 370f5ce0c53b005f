"""The compression network and its torch helpers: shapes, probabilities, augmentation, one training epoch."""

import numpy as np
import pytest
import torch

from lib.core.errors import BadInputError
from lib.models.classifier import (
    augment_batch,
    centre_view,
    classify_crops,
    compression_network,
    normalise_batch,
    predict_widened,
    train_epoch,
)
from lib.models.crops import COMPRESSION_INPUT_SIZE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return compression_network()


def test_network_maps_a_crop_batch_to_one_logit_each(network):
    network.eval()
    with torch.no_grad():
        out = network(torch.randn(3, 1, *COMPRESSION_INPUT_SIZE))
    assert out.shape == (3, 1)
    assert any(isinstance(m, torch.nn.Dropout) for m in network.modules())


def test_classify_crops_gives_a_probability_per_segment(network):
    rng = np.random.default_rng(0)
    crops = {s: rng.normal(size=COMPRESSION_INPUT_SIZE).astype(np.float32) for s in ("C2/3", "C4/5", "C6/7")}
    network.train()
    probabilities = classify_crops(network, crops)
    assert list(probabilities) == ["C2/3", "C4/5", "C6/7"]
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert not network.training
    again = classify_crops(network, crops)  # eval mode: dropout off, the same answer twice
    assert again == probabilities
    assert classify_crops(network, {}) == {}
    with pytest.raises(BadInputError, match="crop shape"):
        classify_crops(network, {"C2/3": np.zeros((96, 96), np.float32)})


def test_augmented_views_are_standardised_and_vary():
    widened = torch.rand(4, 1, 120, 280)
    generator = torch.Generator().manual_seed(0)
    first = augment_batch(widened, 1.25, generator, noise=0.0)
    second = augment_batch(widened, 1.25, generator, noise=0.0)
    assert first.shape == (4, 1, *COMPRESSION_INPUT_SIZE)
    assert torch.allclose(first.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-4)
    assert torch.allclose(first.std(dim=(1, 2, 3), unbiased=False), torch.ones(4), atol=1e-3)
    assert not torch.allclose(first, second)
    centre = centre_view(widened, 1.25)
    assert torch.allclose(centre, normalise_batch(centre), atol=1e-5)


def test_film_augmentation_inverts_polarity_of_the_share_asked():
    # A vertical ramp: bright at the bottom. An inverted view is bright at the top.
    ramp = torch.linspace(0, 1, 120)[:, None].expand(120, 280)
    widened = ramp[None, None].repeat(200, 1, 1, 1)
    plain = dict(shift=0.0, rotate_deg=0.0, scale=0.0, gamma=0.0, noise=0.0)
    views = augment_batch(widened, 1.25, torch.Generator().manual_seed(0), invert=0.3, **plain)
    top_minus_bottom = views[:, 0, :10].mean(dim=(1, 2)) - views[:, 0, -10:].mean(dim=(1, 2))
    inverted = (top_minus_bottom > 0).float().mean()
    assert 0.2 < inverted < 0.4
    never = augment_batch(widened, 1.25, torch.Generator().manual_seed(0), **plain)
    assert (never[:, 0, :10].mean(dim=(1, 2)) < never[:, 0, -10:].mean(dim=(1, 2))).all()


def test_film_augmentation_sharpens_and_blurs_edges():
    step = torch.zeros(64, 1, 120, 280)
    step[..., 140:] = 1.0
    plain = dict(shift=0.0, rotate_deg=0.0, scale=0.0, gamma=0.0, noise=0.0)
    base = augment_batch(step, 1.25, torch.Generator().manual_seed(0), **plain)
    varied = augment_batch(step, 1.25, torch.Generator().manual_seed(0), sharpness=1.5, **plain)

    def steepest(views):
        return views.diff(dim=-1).abs().amax(dim=(1, 2, 3))

    ratio = steepest(varied) / steepest(base)
    assert (ratio > 1.1).any() and (ratio < 0.9).any()  # some views sharpened, some blurred


def test_a_training_epoch_learns_a_separable_toy_task():
    """Positives are brighter in their left half: a few epochs must rank them above the negatives."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, 48)
    widened = rng.random((48, 120, 280)).astype(np.float16)
    widened[targets == 1, :, :140] += 0.5
    network = compression_network()
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = [train_epoch(network, optimizer, None, widened, targets, 1.25, 16, generator) for _ in range(3)]
    assert losses[-1] < losses[0]
    probabilities = predict_widened(network, widened, 1.25)
    assert probabilities.shape == (48,)
    assert probabilities[targets == 1].mean() > probabilities[targets == 0].mean()
