"""The per-segment compression classifier in plain torch: network, batched inference, training augmentation.

Input: a batch of segment crops float32 ``[B, 1, 96, 224]`` (``lib.models.crops``: cranial up, anterior left,
each standardised to zero mean, unit std). Output: ``[B, 1]`` logits of "cord compressed at this segment".
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lib.core.errors import BadInputError
from lib.models.crops import COMPRESSION_INPUT_SIZE

CHANNELS = (16, 32, 64, 96)  # per stage; each stage halves the resolution
DROPOUT = 0.2
NETWORK_DESCRIPTION = (
    f"ResNet-like 2D CNN: 3x3 stride-2 stem, stages {list(CHANNELS)} (stride-2 conv + residual "
    f"block, batch norm), global average pool, dropout {DROPOUT}, 1 logit"
)


class ResidualBlock(nn.Sequential):
    """Two 3x3 conv + batch norm with an identity shortcut (channels and size unchanged)."""

    def __init__(self, channels: int):
        super().__init__(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + super().forward(x))


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class CompressionNet(nn.Module):
    """``[B, 1, 96, 224]`` -> ``[B, 1]`` logits. ``cam_layer`` is the last residual block (6 x 14 cells of
    16 x 16 crop pixels): the deepest, most class-specific features that still keep a spatial layout."""

    def __init__(self, channels: Sequence[int] = CHANNELS, dropout: float = DROPOUT):
        super().__init__()
        stages = [_down(1, channels[0])]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            stages += [_down(c_in, c_out), ResidualBlock(c_out)]
        self.features = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels[-1], 1)
        )

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def compression_network() -> CompressionNet:
    """A fresh, randomly initialised compression classifier (the one factory the infer task and trainer share)."""
    return CompressionNet()


def stack_crops(crops: Mapping[str, np.ndarray], device="cpu") -> tuple:
    """``{segment: float32 [96, 224]}`` -> (segment names, float32 tensor ``[B, 1, 96, 224]`` on ``device``)."""
    names = list(crops)
    for name in names:
        shape = tuple(np.shape(crops[name]))
        if shape != COMPRESSION_INPUT_SIZE:
            raise BadInputError(f"{name}: crop shape {shape} is not {COMPRESSION_INPUT_SIZE} (rows, cols)")
    if not names:
        return names, torch.zeros((0, 1, *COMPRESSION_INPUT_SIZE), device=device)
    batch = np.stack([np.asarray(crops[n], dtype=np.float32) for n in names])[:, None]
    return names, torch.from_numpy(batch).to(device)


def classify_crops(network: nn.Module, crops: Mapping[str, np.ndarray], device="cpu") -> dict:
    """``{segment: probability of compression}`` for standardised crops, in one batched forward (eval, no grad)."""
    names, batch = stack_crops(crops, device)
    if not names:
        return {}
    network.eval()
    with torch.no_grad():
        probabilities = torch.sigmoid(network(batch)[:, 0]).cpu().numpy()
    return {name: float(p) for name, p in zip(names, probabilities)}


def normalise_batch(batch: torch.Tensor) -> torch.Tensor:
    """Standardise each crop of ``[B, 1, H, W]`` on its own (the convention of ``normalise_crop``)."""
    mean = batch.mean(dim=(1, 2, 3), keepdim=True)
    centred = batch - mean
    std = centred.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return centred / torch.where(std > 1e-6, std, torch.ones_like(std))


def centre_view(widened: torch.Tensor, context: float) -> torch.Tensor:
    """The ``[B, 1, 96, 224]`` centre of crops widened by ``context``, resampled exactly like ``augment_batch``
    with no jitter, so validation sees what inference sees."""
    return _sample(widened, torch.zeros(len(widened), 4, device=widened.device), context)


def augment_batch(
    widened: torch.Tensor,
    context: float,
    generator: torch.Generator,
    shift: float = 0.08,
    rotate_deg: float = 8.0,
    scale: float = 0.1,
    gamma: float = 0.3,
    noise: float = 0.05,
    invert: float = 0.0,
    sharpness: float = 0.0,
) -> torch.Tensor:
    """Training views of widened crops ``[B, 1, h, w]`` -> ``[B, 1, 96, 224]``, standardised.

    Localisation error: random shift (fraction of the crop size), rotation (degrees) and scale of the sampling
    window inside the extra context. Intensity: random gamma on the [0, 1] film values, then Gaussian noise
    (in units of the crop's std after standardising). Film domain randomisation (0 = off, the shipped model's
    training): ``invert`` is the share of crops with bone dark (a film whose polarity was lost on export);
    ``sharpness`` the largest unsharp-mask gain, drawn in [-sharpness, sharpness] per crop (negative blurs):
    departments' edge enhancement differs more than anything else between films.
    """
    b = len(widened)
    u = torch.rand(b, 4, generator=generator) * 2 - 1  # shift x, shift y, angle, log-scale in [-1, 1]
    jitter = u * torch.tensor([shift, shift, math.radians(rotate_deg), math.log1p(scale)])
    g = torch.exp((torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * gamma).to(widened.device)
    views = _sample(widened.clamp(min=0) ** g, jitter.to(widened.device), context, standardise=False)
    if sharpness > 0:
        gain = ((torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * sharpness).to(views.device)
        views = views + gain * (views - F.avg_pool2d(views, 5, stride=1, padding=2, count_include_pad=False))
    if invert > 0:
        flip = (torch.rand(b, 1, 1, 1, generator=generator) < invert).to(views.device)
        views = torch.where(flip, -views, views)  # standardised next, so -x is 1 - x up to the mean
    views = normalise_batch(views)
    return views + noise * torch.randn(views.shape, generator=generator).to(widened.device)


def _sample(widened: torch.Tensor, jitter: torch.Tensor, context: float, standardise: bool = True) -> torch.Tensor:
    """Bilinear views of the central ``1/context`` window, moved by ``jitter`` [B, 4] (dx, dy, angle, log-scale)."""
    b = len(widened)
    s = torch.exp(jitter[:, 3]) / context
    cos, sin = torch.cos(jitter[:, 2]), torch.sin(jitter[:, 2])
    h, w = widened.shape[-2:]
    aspect = w / h  # rotate in pixel space, not in the [-1, 1] normalised square
    theta = torch.zeros(b, 2, 3, device=widened.device)
    theta[:, 0, 0], theta[:, 0, 1] = s * cos, -s * sin / aspect
    theta[:, 1, 0], theta[:, 1, 1] = s * sin * aspect, s * cos
    theta[:, 0, 2], theta[:, 1, 2] = jitter[:, 0] * 2 / context, jitter[:, 1] * 2 / context
    grid = F.affine_grid(theta, (b, 1, *COMPRESSION_INPUT_SIZE), align_corners=False)
    views = F.grid_sample(widened.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return normalise_batch(views) if standardise else views


def predict_widened(
    network: nn.Module,
    widened: np.ndarray,
    context: float,
    batch_size: int = 128,
    device="cpu",
    generator: Optional[torch.Generator] = None,
) -> np.ndarray:
    """Probabilities float64 [N] for widened crops float16/32 ``[N, h, w]`` (centre views, eval, no grad)."""
    network.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(widened), batch_size):
            chunk = torch.from_numpy(np.asarray(widened[start : start + batch_size], dtype=np.float32))[:, None]
            out.append(torch.sigmoid(network(centre_view(chunk.to(device), context))[:, 0]).cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def train_epoch(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    widened: np.ndarray,
    targets: np.ndarray,
    context: float,
    batch_size: int,
    generator: torch.Generator,
    pos_weight: float = 1.0,
    device="cpu",
    augmentation: dict | None = None,
) -> float:
    """One pass over shuffled widened crops ``[N, h, w]`` with 0/1 ``targets`` [N]; mean BCE loss (float).

    ``pos_weight`` scales the loss of positive crops (negatives / positives balances the classes);
    ``scheduler`` (or None) steps once per batch; ``augmentation`` overrides ``augment_batch``'s keyword
    defaults. A last batch of one crop is dropped (batch norm needs two).
    """
    network.train()
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([pos_weight], device=device))
    order = torch.randperm(len(targets), generator=generator).numpy()
    losses = []
    for start in range(0, len(order), batch_size):
        index = np.sort(order[start : start + batch_size])
        if len(index) < 2:
            continue
        batch = torch.from_numpy(np.asarray(widened[index], dtype=np.float32))[:, None]
        views = augment_batch(batch, context, generator, **(augmentation or {})).to(device)
        target = torch.from_numpy(targets[index].astype(np.float32))[:, None].to(device)
        loss = loss_fn(network(views), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses)) if losses else float("nan")
