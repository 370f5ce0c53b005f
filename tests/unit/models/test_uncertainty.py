"""MC-dropout entropy: a network that cannot decide scores higher than one that is sure."""

import torch

from lib.models.uncertainty import mc_dropout_entropy


class Fixed(torch.nn.Module):
    """Two-class logits with a fixed margin everywhere, plus a dropout layer to sample."""

    def __init__(self, margin: float, dropout: float):
        super().__init__()
        self.margin = margin
        self.drop = torch.nn.Dropout(dropout)

    def forward(self, x):
        foreground = self.drop(torch.ones_like(x)) * self.margin
        return torch.cat([torch.zeros_like(x), foreground], dim=1)


def test_unsure_network_has_higher_entropy_and_is_left_in_eval_mode():
    image = torch.zeros(1, 8, 8)
    sure, unsure = Fixed(10.0, dropout=0.0), Fixed(0.5, dropout=0.5)
    assert mc_dropout_entropy(unsure, image, samples=8) > mc_dropout_entropy(sure, image, samples=8) + 0.2
    assert not unsure.training
