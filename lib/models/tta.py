"""Test-time augmentation disagreement of the levels network, per level: an active-learning score.

MC-dropout entropy (``lib.models.uncertainty``) is high wherever a boundary is soft, so it ranks films by how much
edge they show as much as by how wrong the model is. The levels model's costly errors are different: a body given
the wrong level, a level missed. Those change when the film is flipped (patients face either way) or zoomed
slightly (detectors and magnification differ), so the disagreement between such views, measured per level as
1 - Dice against the plain view, ranks the films whose level assignment is fragile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Zoom factors of the scaled views (about the input's centre); with the flip, three views beside the plain one.
DEFAULT_SCALES = (0.9, 1.1)


def _zoom_grid(scale: float, shape: torch.Size) -> torch.Tensor:
    """Sampling grid that zooms a ``[1, C, rows, cols]`` tensor by ``scale`` about its centre."""
    theta = torch.tensor([[[1.0 / scale, 0.0, 0.0], [0.0, 1.0 / scale, 0.0]]])
    return F.affine_grid(theta, list(shape), align_corners=False)


def _views(network: torch.nn.Module, image: torch.Tensor, scales) -> tuple[torch.Tensor, list]:
    """``(plain probabilities [C, rows, cols], [(probabilities on the plain view's grid, valid-pixel mask)])``: the
    plain, flipped and zoomed views go through the network as one batch (one forward pass, as MC dropout's)."""
    batch = image[None]
    ones = torch.ones_like(batch[:, :1])
    zoomed = [F.grid_sample(batch, _zoom_grid(scale, batch.shape), align_corners=False) for scale in scales]
    probabilities = torch.softmax(network(torch.cat([batch, torch.flip(batch, dims=(-1,)), *zoomed])), dim=1)
    views = [(torch.flip(probabilities[1], dims=(-1,)), ones[0, 0] > 0)]
    for index, scale in enumerate(scales, start=2):
        back = _zoom_grid(1.0 / scale, probabilities[index : index + 1].shape)
        restored = F.grid_sample(probabilities[index : index + 1], back, align_corners=False)
        # Zoomed in, the film's edges fall outside the view: those pixels were never seen and take no part.
        valid = F.grid_sample(ones, _zoom_grid(1.0 / scale, ones.shape), align_corners=False)[0, 0] > 0.999
        views.append((restored[0], valid))
    return probabilities[0], views


@torch.no_grad()
def tta_disagreement(
    network: torch.nn.Module, image: torch.Tensor, scales=DEFAULT_SCALES
) -> tuple[float, dict[int, float]]:
    """``(score, {class id: disagreement})``: per foreground class, 1 - Dice between the plain view's arg-max and
    each augmented view's (flip, then each zoom), averaged over the views; the score is the mean over the classes
    either view found. 0.0 when no view finds anything.

    image: ``[1, rows, cols]`` float32 in the network's input geometry.
    """
    if image.ndim != 3 or image.shape[0] != 1:
        raise ValueError(f"image must be [1, rows, cols], got shape {list(image.shape)}")
    network.eval()
    plain, views = _views(network, image, scales)
    classes = plain.shape[0]
    base = plain.argmax(dim=0)
    per_class: dict[int, list[float]] = {}
    for probabilities, valid in views:
        other = probabilities.argmax(dim=0)
        for value in range(1, classes):
            a, b = (base == value) & valid, (other == value) & valid
            total = int(a.sum() + b.sum())
            if total == 0:
                continue
            dice = 2.0 * float((a & b).sum()) / total
            per_class.setdefault(value, []).append(1.0 - dice)
    if not per_class:
        return 0.0, {}
    levels = {value: sum(d) / len(d) for value, d in per_class.items()}
    return float(sum(levels.values()) / len(levels)), levels
