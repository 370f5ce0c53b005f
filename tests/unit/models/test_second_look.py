"""The second look: a leaning column is read again turned upright, bodies larger or smaller than the network reads
well are read again zoomed out or in, and the answer comes back onto the film's own grid; an upright column of a
usual size or a film without bodies is read once."""

import numpy as np
import pytest
import torch

from lib.models.second_look import (
    MAX_BODY_SIZE_PX,
    MAX_ZOOM_IN,
    MIN_BODY_PIXELS,
    MIN_BODY_SIZE_PX,
    body_column,
    read_levels,
)


class Bright(torch.nn.Module):
    """Class 1 (a body) on bright pixels; remembers every batch it was shown."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.cat([torch.zeros_like(x), (x - 0.5) * 20, torch.full_like(x, -5).repeat(1, 6, 1, 1)], dim=1)


def _bar(lean_deg: float, shape=(160, 128), half_length=40, half_width=6) -> torch.Tensor:
    """A bright bar through the image centre whose long axis leans ``lean_deg`` from vertical (down towards higher
    columns when positive); its area (960 pixels) is a body of a usual size."""
    rows, cols = torch.meshgrid(torch.arange(shape[0]).float(), torch.arange(shape[1]).float(), indexing="ij")
    angle = np.radians(lean_deg)
    dr, dc = rows - shape[0] / 2, cols - shape[1] / 2
    along = dr * np.cos(angle) + dc * np.sin(angle)
    across = -dr * np.sin(angle) + dc * np.cos(angle)
    return ((along.abs() < half_length) & (across.abs() < half_width)).float()[None]


def _lean_of(mask: torch.Tensor) -> float:
    logits = torch.stack([torch.zeros_like(mask), mask * 2 - 1] + [torch.full_like(mask, -5)] * 6)
    return body_column(logits).lean_deg


@pytest.mark.parametrize("lean", [20.0, -25.0])
def test_a_leaning_column_is_read_again_upright_and_turned_back(lean):
    image, network = _bar(lean), Bright()
    reading = read_levels(network, image)
    logits, turned = reading.logits, reading.turn_deg
    assert turned == pytest.approx(lean, abs=1.0) and reading.zoom_out == 1.0
    assert len(network.seen) == 2
    second_input = network.seen[1][0, 0]
    assert abs(_lean_of((second_input > 0.5).float())) < 1.0  # the second look saw the column upright
    found, truth = logits.argmax(0) == 1, image[0] > 0.5
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou > 0.95  # and its answer lies on the film's own pixels again


def test_an_upright_column_is_read_once():
    network = Bright()
    reading = read_levels(network, _bar(5.0))
    assert not reading.read_twice and len(network.seen) == 1
    assert torch.equal(reading.logits, network(network.seen[0])[0])


def test_a_film_without_bodies_is_read_once():
    network = Bright()
    image = torch.zeros(1, 160, 128)
    image[0, :4, :4] = 1.0  # a few bright pixels (a marker) give no column
    assert (image > 0.5).sum() < MIN_BODY_PIXELS
    assert not read_levels(network, image).read_twice and len(network.seen) == 1


def test_the_image_must_be_one_channel():
    with pytest.raises(ValueError, match="must be"):
        read_levels(Bright(), torch.zeros(2, 16, 16))


def _logits(bodies: torch.Tensor, canal: torch.Tensor) -> torch.Tensor:
    """Levels logits with class 1 (a body) on ``bodies`` and class 7 (the canal) on ``canal``, background elsewhere."""
    body, canal = bodies[0] * 2 - 1, canal[0] * 2 - 1
    return torch.stack([torch.zeros_like(body), body] + [torch.full_like(body, -5)] * 5 + [canal])


def test_the_canal_gives_the_axis_when_a_stray_blob_would_tilt_the_bodies():
    column, canal = _bar(20.0, half_length=60, half_width=8), _bar(20.0, half_length=60, half_width=3)
    bodies = column.clone()
    bodies[0, 140:160, 0:30] = 1.0  # a dark corner the network took for a body, far off the column
    bodies[0][canal[0] > 0] = 0.0
    assert abs(body_column(_logits(bodies, torch.zeros_like(canal))).lean_deg - 20.0) > 5.0  # what it did to them
    assert body_column(_logits(bodies, canal)).lean_deg == pytest.approx(20.0, abs=1.0)


def _body(height: int, shape=(320, 256), center=(150, 120)) -> torch.Tensor:
    """One bright upright body ``height`` pixels tall and three quarters as deep, whose size by
    ``MAX_BODY_SIZE_PX``'s measure (the square root of its area) is 0.87 ``height``."""
    image = torch.zeros(1, *shape)
    depth = int(round(0.75 * height))
    image[0, center[0] - height // 2 : center[0] + height // 2, center[1] - depth // 2 : center[1] + depth // 2] = 1.0
    return image


def test_bodies_larger_than_trained_are_read_again_zoomed_out_and_brought_back():
    image, network = _body(64), Bright()  # a tight crop's body, twice the usual size
    size = float(np.sqrt((image > 0.5).sum()))
    assert size > MAX_BODY_SIZE_PX
    reading = read_levels(network, image)
    assert reading.turn_deg == 0.0 and reading.zoom_out == pytest.approx(size / MAX_BODY_SIZE_PX, abs=0.01)
    seen_size = float(np.sqrt((network.seen[1][0, 0] > 0.5).sum()))
    assert seen_size == pytest.approx(MAX_BODY_SIZE_PX, rel=0.05)  # the second look saw a body of a usual size
    found, truth = reading.logits.argmax(0) == 1, image[0] > 0.5
    assert (found & truth).sum() / (found | truth).sum() > 0.9  # and the answer lies on the film's own pixels


def test_the_zoomed_out_view_carries_the_films_edge_on_not_the_letterbox_padding():
    image, network = _body(64), Bright()
    image[0, :, 200:] = -1.0  # the letterbox's padding right of the film (marked so the view's edge shows it)
    read_levels(network, image, content_shape=(320, 200))
    assert network.seen[1].min() >= 0.0  # the padding never entered the second view


@pytest.mark.parametrize("height", [22, 18])
def test_bodies_smaller_than_read_well_are_read_again_zoomed_in_and_brought_back(height):
    # 22: a wide field's body, brought up to MIN_BODY_SIZE_PX; 18: so small the zoom stops at MAX_ZOOM_IN
    image, network = _body(height), Bright()
    size = float(np.sqrt((image > 0.5).sum()))
    assert size < MIN_BODY_SIZE_PX
    reading = read_levels(network, image)
    zoom = max(size / MIN_BODY_SIZE_PX, 1 / MAX_ZOOM_IN)
    assert reading.turn_deg == 0.0 and reading.zoom_out == pytest.approx(zoom, abs=0.01) and reading.zoom_out < 1
    seen_size = float(np.sqrt((network.seen[1][0, 0] > 0.5).sum()))
    assert seen_size == pytest.approx(size / zoom, rel=0.05)  # the second look saw the body larger
    found, truth = reading.logits.argmax(0) == 1, image[0] > 0.5
    assert (found & truth).sum() / (found | truth).sum() > 0.9  # and the answer lies on the film's own pixels


def test_bodies_of_a_usual_size_are_read_once():
    network = Bright()
    size = float(np.sqrt((_body(36) > 0.5).sum()))
    assert MIN_BODY_SIZE_PX <= size <= MAX_BODY_SIZE_PX
    assert not read_levels(network, _body(36)).read_twice and len(network.seen) == 1


def test_a_first_look_already_taken_is_not_taken_again():
    # The polarity check has the network's logits on the film already (lib.models.polarity).
    image, network = _bar(5.0), Bright()
    first = network(image[None])[0]
    reading = read_levels(network, image, first=first)
    assert len(network.seen) == 1 and torch.equal(reading.logits, first)
    leaning = _bar(25.0)
    read_levels(network, leaning, first=network(leaning[None])[0])
    assert len(network.seen) == 3  # its own first look, then only the second look
