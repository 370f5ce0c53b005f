"""Model uncertainty for active learning: Monte Carlo dropout entropy of a segmentation network.

The next image an annotator gets is the one the levels model is least sure of; sampling the network with
dropout on approximates its epistemic uncertainty without a second model.
"""

from __future__ import annotations

import torch


def enable_dropout_only(network: torch.nn.Module) -> None:
    """Eval mode everywhere (batch/instance norms frozen) except dropout layers, which keep sampling."""
    network.eval()
    for module in network.modules():
        if isinstance(module, (torch.nn.Dropout, torch.nn.Dropout2d, torch.nn.Dropout3d)):
            module.train()


@torch.no_grad()
def mc_dropout_entropy(network: torch.nn.Module, image: torch.Tensor, samples: int = 5) -> float:
    """Mean predictive entropy (nats) over the pixels the model calls foreground in any sample.

    image: ``[1, rows, cols]`` float32 in the network's input geometry. Returns 0.0 when nothing is found.
    """
    enable_dropout_only(network)
    batch = image[None].repeat(samples, 1, 1, 1)
    probabilities = torch.softmax(network(batch), dim=1).mean(dim=0)  # [C, rows, cols]
    network.eval()
    entropy = -(probabilities * torch.log(probabilities.clamp_min(1e-8))).sum(dim=0)
    foreground = probabilities[0] < 0.9
    if not bool(foreground.any()):
        return 0.0
    return float(entropy[foreground].mean())
