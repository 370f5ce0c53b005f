"""TTA disagreement: a network whose levels follow the film's content agrees with itself; one that labels by
position (a level flips when the film does) or that cannot find anything says so."""

import pytest
import torch

from lib.models.tta import tta_disagreement


class Threshold(torch.nn.Module):
    """Class 1 where the pixel is bright: a prediction that moves with the film under flip and zoom."""

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), (x - 0.5) * 20], dim=1)


class LeftHalf(torch.nn.Module):
    """Class 1 on bright pixels of the left half, class 2 on the right: labels tied to position, not content."""

    def forward(self, x):
        left = torch.zeros_like(x)
        left[..., : x.shape[-1] // 2] = 1
        bright = (x - 0.5) * 20
        return torch.cat([torch.zeros_like(x), bright * left, bright * (1 - left)], dim=1)


def _blob() -> torch.Tensor:
    image = torch.zeros(1, 64, 48)
    image[:, 20:44, 4:20] = 1.0  # off-centre, in the left half
    return image


def test_a_content_following_network_agrees_with_its_views():
    score, per_class = tta_disagreement(Threshold(), _blob())
    assert score < 0.1 and set(per_class) == {1}


def test_a_network_whose_level_flips_with_the_film_disagrees():
    score, per_class = tta_disagreement(LeftHalf(), _blob())
    assert score > 0.4  # flipped, the blob is called class 2
    assert per_class[1] > 0.3 and per_class[2] == pytest.approx(1.0)


def test_nothing_found_scores_zero_and_a_wrong_shape_is_refused():
    assert tta_disagreement(Threshold(), torch.zeros(1, 32, 32)) == (0.0, {})
    with pytest.raises(ValueError, match=r"\[1, rows, cols\]"):
        tta_disagreement(Threshold(), torch.zeros(32, 32))
