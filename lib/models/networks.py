"""Network factories: one function per model, so the infer task, the trainer and the model card agree.

Sizes were chosen for a 2-core CPU: the levels UNet runs a 320 x 256 letterboxed radiograph in about 10 ms.
Dropout stays in the networks because the uncertainty strategy samples them with dropout on (MC dropout).
"""

from __future__ import annotations

from monai.networks.nets import UNet

from lib.anatomy.names import LEVEL_LABELS

LEVELS_CHANNELS = (8, 16, 32, 64, 128)
LEVELS_DROPOUT = 0.1


def levels_network() -> UNet:
    """2D UNet: ``[B, 1, 320, 256]`` radiograph -> ``[B, 8, 320, 256]`` logits (background, C2..C7, spinal canal)."""
    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=len(LEVEL_LABELS) + 1,
        channels=LEVELS_CHANNELS,
        strides=(2, 2, 2, 2),
        num_res_units=1,
        dropout=LEVELS_DROPOUT,
    )
