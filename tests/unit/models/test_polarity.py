"""The polarity check: a film is read both ways up and kept the way its bodies stand out brighter from their
surroundings, judged in the grey scale each reading saw; a film with no bodies is left as it is."""

import numpy as np
import pytest
import torch

from lib.models.polarity import MIN_CLASS_PIXELS, RING_PX, Polarity, body_contrast, inverted_content, read_polarity

SHAPE = (64, 48)
BODY = (slice(20, 40), slice(16, 32))  # where the anatomy is, whatever the grey scale


class KnowsWhere(torch.nn.Module):
    """Paints class 1 (a body) on ``BODY`` in every image it is shown, as a network that found the anatomy by its
    shapes would, bright or dark; remembers every batch."""

    def __init__(self, body=BODY):
        super().__init__()
        self.body, self.seen = body, []

    def forward(self, x):
        self.seen.append(x.clone())
        logits = torch.full((x.shape[0], 8, *x.shape[-2:]), -5.0)
        logits[:, 0] = 0.0
        if self.body is not None:
            logits[:, 1, self.body[0], self.body[1]] = 5.0
        return logits


def _film(bone_bright: bool) -> torch.Tensor:
    image = torch.full((1, *SHAPE), 0.3)
    image[0, BODY[0], BODY[1]] = 0.8
    return image if bone_bright else 1.0 - image


def test_a_bone_bright_film_is_read_as_it_is():
    image = _film(bone_bright=True)
    polarity, kept, logits = read_polarity(KnowsWhere(), image)
    assert polarity == Polarity(False, pytest.approx(0.5), pytest.approx(-0.5))
    assert torch.equal(kept, image) and logits.shape == (8, *SHAPE)


def test_a_bone_dark_film_is_turned_over_and_read_that_way():
    network = KnowsWhere()
    polarity, kept, logits = read_polarity(network, _film(bone_bright=False))
    assert polarity.inverted and polarity.contrast_inverted > polarity.contrast_as_read
    assert torch.allclose(kept, _film(bone_bright=True))
    assert len(network.seen) == 1 and network.seen[0].shape[0] == 2  # both ways up in one batch
    assert torch.equal(logits, network(kept[None])[0])  # the logits are those of the image handed on
    assert polarity.describe() == {"read_inverted": True} and "inverted" in polarity.warnings[0]


def test_only_the_film_is_turned_over_and_the_letterbox_padding_stays_black():
    image = torch.zeros(1, 80, 48)
    image[:, : SHAPE[0]] = _film(bone_bright=False)
    network = KnowsWhere()
    _, kept, _ = read_polarity(network, image, content_shape=SHAPE)
    assert torch.allclose(kept[:, : SHAPE[0]], _film(bone_bright=True))
    assert torch.equal(kept[:, SHAPE[0] :], torch.zeros(1, 80 - SHAPE[0], 48))
    assert torch.equal(network.seen[0][1, :, SHAPE[0] :], torch.zeros(1, 80 - SHAPE[0], 48))


def test_a_film_without_bodies_is_left_as_it_is():
    image = _film(bone_bright=False)
    polarity, kept, _ = read_polarity(KnowsWhere(body=None), image)
    assert polarity == Polarity(False, None, None) and polarity.warnings == []
    assert torch.equal(kept, image)


def test_a_speck_gives_no_contrast():
    logits = torch.zeros(8, *SHAPE)
    logits[1, :2, :2] = 5.0  # 4 pixels
    assert 4 < MIN_CLASS_PIXELS and body_contrast(_film(True)[0], logits) is None


def test_the_pixels_handed_on_follow_the_reading():
    pixels = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    assert Polarity(False, 0.2, -0.2).applied_to(pixels) is pixels
    turned = Polarity(True, -0.2, 0.2).applied_to(pixels)
    assert turned.dtype == np.float32 and np.allclose(turned, 1 - pixels)


def test_inverted_content_leaves_its_input_alone():
    image = _film(True)
    before = image.clone()
    inverted_content(image, SHAPE)
    assert torch.equal(image, before)


def test_an_image_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\[1, rows, cols\]"):
        read_polarity(KnowsWhere(), torch.zeros(2, *SHAPE))


def _contrast_by_hand(image: np.ndarray, labels: np.ndarray, level: int) -> float:
    """A body's mean minus that of every non-body pixel within ``RING_PX`` of it (chessboard distance)."""
    rows, cols = np.nonzero(labels == level)
    grid_r, grid_c = np.indices(labels.shape)
    near = np.zeros(labels.shape, bool)
    for r, c in zip(rows, cols):
        near |= (np.abs(grid_r - r) <= RING_PX) & (np.abs(grid_c - c) <= RING_PX)
    ring = near & (labels == 0)
    return float(image[labels == level].mean() - image[ring].mean())


@pytest.mark.parametrize("corner", [False, True])
def test_the_ring_is_ring_px_wide_and_leaves_out_every_body(corner):
    """Two bodies touching, in the middle of the film or against its corner: each is compared with the pixels
    within RING_PX of it that are no body's, and the median of the two is the contrast."""
    top, left = (0, 0) if corner else (20, 16)
    labels = np.zeros(SHAPE, np.int64)
    labels[top : top + 12, left : left + 10] = 1
    labels[top + 12 : top + 24, left : left + 10] = 2
    image = np.random.default_rng(0).uniform(0.1, 0.9, SHAPE).astype(np.float32)
    logits = torch.nn.functional.one_hot(torch.as_tensor(labels), 8).permute(2, 0, 1).float()
    expected = np.median([_contrast_by_hand(image, labels, 1), _contrast_by_hand(image, labels, 2)])
    assert body_contrast(torch.as_tensor(image), logits) == pytest.approx(expected, abs=1e-6)
