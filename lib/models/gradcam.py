"""Grad-CAM for the compression classifier: where in each segment crop the "compressed" evidence lies.

Maps come from ``pytorch_grad_cam`` on the network's ``cam_layer`` (its last residual block, see
``lib.models.classifier.CompressionNet``): the deepest features carry the most class-specific evidence while keeping a
6 x 14 spatial layout, which is enough to tell a disc from a facet joint in a 96 x 224 crop. Earlier layers
localise more finely but respond to edges whatever the class. Maps are upsampled to the crop and scaled to
[0, 1] per crop; ``lib.anatomy.geometry.paste_heatmap`` puts them back onto the radiograph.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from lib.anatomy.geometry import SegmentCrop
from lib.core.errors import BadInputError
from lib.models.classifier import stack_crops

logger = logging.getLogger(__name__)

POSITIVE_OUTPUT = 0  # the network's single logit is "compressed"


def _target_layer(network: torch.nn.Module) -> torch.nn.Module:
    layer = getattr(network, "cam_layer", None)
    if not isinstance(layer, torch.nn.Module):
        raise BadInputError(
            f"{type(network).__name__} has no cam_layer to explain; use lib.models.classifier.compression_network"
        )
    return layer


def gradcam_crops(network: torch.nn.Module, crops: Mapping[str, np.ndarray], device="cpu") -> dict:
    """``{segment: float32 [96, 224] in [0, 1]}``: Grad-CAM of the "compressed" logit for each standardised crop.

    Gradients are switched on here, so this works inside MONAI Label's ``torch.no_grad()`` inferer. The network
    is explained in eval mode (dropout off, batch-norm statistics frozen) and left in the mode it came in.
    A crop whose map is flat everywhere (no positive evidence at all) gets all zeros.
    """
    names, batch = stack_crops(crops, device)
    if not names:
        return {}
    was_training = network.training
    network.eval()
    try:
        with torch.enable_grad(), GradCAM(model=network, target_layers=[_target_layer(network)]) as cam:
            maps = cam(input_tensor=batch, targets=[ClassifierOutputTarget(POSITIVE_OUTPUT)] * len(names))
    finally:
        network.train(was_training)
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0)
    return {name: np.clip(m, 0.0, 1.0) for name, m in zip(names, maps)}


def heatmap_peak(heatmap: np.ndarray, crop: SegmentCrop) -> list:
    """Radiograph pixel ``[x, y]`` (floats) of the maximum of a crop heatmap ``[h, w]`` (any size, stretched over
    the crop as ``lib.anatomy.geometry.paste_heatmap`` does)."""
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2 or heat.size == 0:
        raise BadInputError(f"{crop.segment}: heatmap must be a non-empty 2D [h, w] array; got shape {heat.shape}")
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    rows, cols = crop.size_px
    # Pixel centres of an [h, w] map stretched over a [rows, cols] crop (the half-pixel convention of geometry).
    crop_col = (col + 0.5) * cols / heat.shape[1] - 0.5
    crop_row = (row + 0.5) * rows / heat.shape[0] - 0.5
    x, y = crop.crop_to_image @ np.array([crop_col, crop_row, 1.0])
    return [float(x), float(y)]
