"""A second look at a leaning spine: the levels network run again on its input turned so the column stands upright.

The levels network names the bodies less reliably the further the column leans in the image: on the film-style
phantom its raw names were right for 113, 108 and 98 of 115 bodies at 0, 10 and 20 degrees of extra rotation, and a
film leaning 20 degrees was refused three times as often. Augmentation to 30 degrees narrowed that without closing
it, so the inference does what a reader does with a crooked film: it finds the column on a first look (which bodies
the first pass calls C2-C7 does not matter, only where they lie), turns the input about the column's centre until the
column is vertical, looks again, and turns the answer back. Films that already stand nearly upright (most) are read
once, so the second look costs time only where it helps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

# A column leaning less than this is read as it is: the training films' own columns lean up to about this much
# (lordosis and posture), so the network has seen them in plenty.
MIN_LEAN_DEG = 15.0
# Fewer body pixels than this in the first look give no axis worth turning to (a film without a spine).
MIN_BODY_PIXELS = 200
# A canal piece this large (network input pixels) is long enough to give the column's axis.
MIN_CANAL_PIXELS = 300
BODY_CLASSES = (1, 6)  # C2..C7 in the levels network's output (0 background, 7 spinal canal)
CANAL_CLASS = 7


@dataclass(frozen=True)
class Column:
    """Where the first look put the spine: its centre ``(row, col)`` and the column's downward unit axis."""

    center: tuple[float, float]
    axis: tuple[float, float]  # (d_row, d_col), d_row >= 0

    @property
    def lean_deg(self) -> float:
        """Signed angle from vertical, positive when the column runs down towards higher columns."""
        return float(np.degrees(np.arctan2(self.axis[1], self.axis[0])))


def _principal(points: np.ndarray) -> Column:
    center = points.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((points - center).T))
    axis = vectors[:, -1] if vectors[0, -1] >= 0 else -vectors[:, -1]
    return Column((float(center[0]), float(center[1])), (float(axis[0]), float(axis[1])))


def body_column(logits: torch.Tensor) -> Optional[Column]:
    """The column the first look sees in ``[classes, rows, cols]`` logits, or ``None`` when it sees no spine.

    The spinal canal's largest piece gives the axis when there is one: it is one long, narrow band, so stray
    pixels the network calls a body (a dark corner of a rotated film, the skull base) cannot tilt it, and they did:
    on a film leaning 20 degrees such a blob made the bodies' own axis read 39. The bodies' pixels are the fallback
    (the principal axis of several bodies stacked, one body wide).
    """
    labels = logits.argmax(dim=0).cpu().numpy()
    canal, pieces = ndimage.label(labels == CANAL_CLASS, structure=np.ones((3, 3)))
    if pieces:
        sizes = np.bincount(canal.ravel())[1:]
        if sizes.max() >= MIN_CANAL_PIXELS:
            return _principal(np.argwhere(canal == 1 + sizes.argmax()).astype(np.float64))
    bodies = np.argwhere((labels >= BODY_CLASSES[0]) & (labels <= BODY_CLASSES[1])).astype(np.float64)
    return _principal(bodies) if len(bodies) >= MIN_BODY_PIXELS else None


def _turned(values: torch.Tensor, column: Column, inverse: bool) -> torch.Tensor:
    """``[C, rows, cols]`` values resampled about the column's centre: forward turns the column upright (its axis
    onto the rows' direction), ``inverse`` turns an upright answer back onto the first look's grid."""
    rows, cols = values.shape[-2:]
    d_row, d_col = column.axis
    # Sampling matrix in (row, col): forward, an output step down the rows samples along the column's axis.
    turn = torch.tensor([[d_row, -d_col], [d_col, d_row]], dtype=torch.float64)
    if inverse:
        turn = turn.T
    grid_r, grid_c = torch.meshgrid(
        torch.arange(rows, dtype=torch.float64), torch.arange(cols, dtype=torch.float64), indexing="ij"
    )
    offsets = torch.stack([grid_r - column.center[0], grid_c - column.center[1]], dim=-1)
    source = offsets @ turn.T + torch.tensor(column.center, dtype=torch.float64)
    # grid_sample wants (x, y) = (col, row) normalised to [-1, 1] across the pixel centres (align_corners=True).
    grid = torch.stack([2 * source[..., 1] / max(cols - 1, 1) - 1, 2 * source[..., 0] / max(rows - 1, 1) - 1], -1)
    sampled = F.grid_sample(values[None].float(), grid[None].float(), mode="bilinear", align_corners=True)
    return sampled[0].to(values.dtype)


@torch.no_grad()
def read_upright(
    network: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, min_lean_deg: float = MIN_LEAN_DEG
) -> tuple[torch.Tensor, float]:
    """``(logits [classes, rows, cols], degrees turned)`` of the levels network on ``image`` ``[1, rows, cols]``.

    A first look finds the column; when it leans by ``min_lean_deg`` or more, the image is turned upright about the
    column's centre, looked at again, and the second look's logits are turned back onto the image's grid. Pixels the
    turned view never saw (its corners) keep the first look's logits. 0.0 degrees when the film was read once.
    """
    if image.ndim != 3 or image.shape[0] != 1:
        raise ValueError(f"image must be [1, rows, cols], got shape {list(image.shape)}")
    first = network(image[None])[0]
    column = body_column(first)
    if column is None or abs(column.lean_deg) < min_lean_deg:
        return first, 0.0
    second = network(_turned(image, column, inverse=False)[None])[0]
    back = _turned(second, column, inverse=True)
    seen = _turned(torch.ones_like(image), column, inverse=True)[0] > 0.999
    return torch.where(seen[None], back, first), column.lean_deg
