"""A second look at a spine the network saw crooked, too close or too far: its input resampled so the column stands
upright at the size the network was trained on, read again, and the answer resampled back.

The levels network names the bodies less reliably the further the column leans in the image: on the film-style phantom
its raw names were right for 113, 108 and 98 of 115 bodies at 0, 10 and 20 degrees of extra rotation, and a film leaning
20 degrees was refused three times as often. Augmentation to 30 degrees narrowed that without closing it. It also
outlines bodies worse when they fill more of its input than on the films it was trained on: on a tight C2-C6 crop its
level Dice was 0.75 against 0.95 on the whole film, and 0.93 with the same crop padded to 1.5 times its size; and bodies
small in its input (a wide field, or a film rotated onto a grown canvas) it outlines loosely, spilling over the discs
and pillars. So the inference does what a reader does with a crooked or cropped film: a first look finds the column
(which bodies it calls C2-C7 does not matter, only where they lie and how large), the input is turned about the column's
centre until the column is vertical and zoomed out or in until the bodies have their usual size, the network looks
again, and its answer is resampled back. Films that stand nearly upright at a usual size (most) are read once, so the
second look costs time only where it helps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from lib.anatomy.levels import principal_axis

# A column leaning less than this is read as it is: the training films' own columns lean up to about this much
# (lordosis and posture), so the network has seen them in plenty.
MIN_LEAN_DEG = 15.0
# Body size: the square root of the mean area of the body classes the first look paints (network input pixels).
# On the validation films whole films gave 20-39 (film drawing) and 28-35 (schematic), tight C2-C6 crops 34-54.
# Bodies larger than this are zoomed out to it, no further: on the validation films that did as well as zooming out
# to 28 (the middle of the whole films' range) and changes the film least (level Dice, whole films and tight crops,
# film drawing 0.934 and 0.841 against 0.934 and 0.833; schematic 0.957 and 0.825 against 0.957 and 0.834).
MAX_BODY_SIZE_PX = 36.0
MAX_ZOOM_OUT = 2.5
# Bodies smaller than this are zoomed in to it: a film rotated on a grown canvas, or one whose field runs from the
# skull to the chest, is fitted into the same input and its bodies come out at 19-27 pixels, where the network's
# outlines spread over the discs and pillars. On 20 validation films turned a further 20 degrees, level Dice /
# identity / confident compression calls on wrong names: film drawing 0.737 / 90% / 6 read as they are, zoomed in
# to 24 0.858 / 98% / 3, to 26 0.932 / 100% / 0, to 27 0.939 / 100% / 0, to 28 0.947 / 100% / 0, to 30 0.949 /
# 99% / 0; schematic 0.880 / 100% / 0 as they are, 0.916 at 26, 0.928 / 100% / 0 at 27, 0.939 / 99% / 3 at 28.
# 27 is the largest size that put no confident call on a wrong name on either drawing.
MIN_BODY_SIZE_PX = 27.0
MAX_ZOOM_IN = 1.6  # a view at least 1 / 1.6 of the input's width: the column (six bodies, their discs) stays in it
MIN_CLASS_PIXELS = 50  # a body class with fewer pixels is a speck, not a body, for the size
# Fewer body pixels than this in the first look give no axis worth turning to (a film without a spine).
MIN_BODY_PIXELS = 200
# A canal piece this large (network input pixels) is long enough to give the column's axis.
MIN_CANAL_PIXELS = 300
BODY_CLASSES = (1, 6)  # C2..C7 in the levels network's output (0 background, 7 spinal canal)
CANAL_CLASS = 7


@dataclass(frozen=True)
class Column:
    """Where the first look put the spine: its centre ``(row, col)``, the column's downward unit axis, and the
    bodies' size (``MAX_BODY_SIZE_PX``'s measure; 0.0 when not measured)."""

    center: tuple[float, float]
    axis: tuple[float, float]  # (d_row, d_col), d_row >= 0
    body_size_px: float = 0.0

    @property
    def lean_deg(self) -> float:
        """Signed angle from vertical, positive when the column runs down towards higher columns."""
        return float(np.degrees(np.arctan2(self.axis[1], self.axis[0])))


@dataclass(frozen=True)
class Reading:
    """The levels network's answer: ``logits [classes, rows, cols]`` on the input's own grid, and how the second
    look saw it (``turn_deg``: the lean it undid, 0.0 none; ``zoom_out``: the view's width against the input's, 1.0
    none, 1.5 zoomed out to a view 1.5 times wider, 0.8 zoomed in)."""

    logits: torch.Tensor
    turn_deg: float = 0.0
    zoom_out: float = 1.0

    @property
    def read_twice(self) -> bool:
        return self.turn_deg != 0.0 or self.zoom_out != 1.0

    def describe(self) -> dict:
        """What the answer's ``levels`` block says of it: ``read_upright_deg`` (0.0: not turned) and
        ``read_zoomed_out`` (1.0: not zoomed)."""
        return {"read_upright_deg": round(float(self.turn_deg), 1), "read_zoomed_out": round(float(self.zoom_out), 2)}


def _column_of(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """(centre, downward unit axis) of ``(row, col)`` points, both as ``(row, col)``."""
    d_col, d_row = principal_axis(points[:, ::-1])  # it takes [x, y] and orients the axis towards larger y (rows)
    center = points.mean(axis=0)
    return (float(center[0]), float(center[1])), (float(d_row), float(d_col))


def _body_size(labels: np.ndarray) -> float:
    areas = [int((labels == c).sum()) for c in range(BODY_CLASSES[0], BODY_CLASSES[1] + 1)]
    present = [a for a in areas if a >= MIN_CLASS_PIXELS]
    return float(np.sqrt(np.mean(present))) if present else 0.0


def body_column(logits: torch.Tensor) -> Optional[Column]:
    """The column the first look sees in ``[classes, rows, cols]`` logits, or ``None`` when it sees no spine.

    The spinal canal's largest piece gives the axis when there is one: it is one long, narrow band, so stray
    pixels the network calls a body (a dark corner of a rotated film, the skull base) cannot tilt it, and they did:
    on a film leaning 20 degrees such a blob made the bodies' own axis read 39. The bodies' pixels are the fallback
    (the principal axis of several bodies stacked, one body wide).
    """
    labels = logits.argmax(dim=0).cpu().numpy()
    bodies = np.argwhere((labels >= BODY_CLASSES[0]) & (labels <= BODY_CLASSES[1])).astype(np.float64)
    if len(bodies) < MIN_BODY_PIXELS:
        return None
    canal, pieces = ndimage.label(labels == CANAL_CLASS, structure=np.ones((3, 3)))
    sizes = np.bincount(canal.ravel())[1:]
    if pieces and sizes.max() >= MIN_CANAL_PIXELS:
        bodies = np.argwhere(canal == 1 + sizes.argmax()).astype(np.float64)  # the canal stands in for them
    return Column(*_column_of(bodies), _body_size(labels))


def _resampled(
    values: torch.Tensor, column: Column, zoom_out: float, turn: bool, inverse: bool, out_shape=None
) -> torch.Tensor:
    """``[C, rows, cols]`` values resampled about the column's centre onto a grid of ``out_shape`` (default their
    own): forward, the view the second look reads (the column turned onto the rows' direction when ``turn``,
    ``zoom_out`` times wider); ``inverse`` brings that view's values back onto the first look's grid (nothing
    beyond the view)."""
    rows, cols = values.shape[-2:]
    out_rows, out_cols = out_shape if out_shape is not None else (rows, cols)
    d_row, d_col = column.axis if turn else (1.0, 0.0)
    # Sampling matrix in (row, col): forward, an output step down the rows samples zoom_out steps along the axis.
    sampling = zoom_out * torch.tensor([[d_row, -d_col], [d_col, d_row]], dtype=torch.float64)
    if inverse:
        sampling = torch.linalg.inv(sampling)
    grid_r, grid_c = torch.meshgrid(
        torch.arange(out_rows, dtype=torch.float64), torch.arange(out_cols, dtype=torch.float64), indexing="ij"
    )
    offsets = torch.stack([grid_r - column.center[0], grid_c - column.center[1]], dim=-1)
    source = offsets @ sampling.T + torch.tensor(column.center, dtype=torch.float64)
    # grid_sample wants (x, y) = (col, row) normalised to [-1, 1] across the pixel centres (align_corners=True).
    grid = torch.stack([2 * source[..., 1] / max(cols - 1, 1) - 1, 2 * source[..., 0] / max(rows - 1, 1) - 1], -1)
    # A turned view leaves the corners black, as a rotated film's own corners are (so it was measured); a zoomed-out
    # view carries the film's edge pixels on instead: black bands around a crop made the network see its edge as
    # the field's (film-phantom tight crops: 20 of 20 found either way, level Dice 0.832 black, 0.836 carried on;
    # schematic 0.817 and 0.851).
    padding = "border" if zoom_out > 1.0 and not inverse else "zeros"
    sampled = F.grid_sample(
        values[None].float(), grid[None].float(), mode="bilinear", padding_mode=padding, align_corners=True
    )
    return sampled[0].to(values.dtype)


def zoom_out_for(column: Column) -> float:
    """How much wider than the input the second look's view is: 1.0 for bodies of a usual size, above 1 (zoomed
    out) to bring larger ones down to ``MAX_BODY_SIZE_PX`` (at most ``MAX_ZOOM_OUT``), below 1 (zoomed in) to bring
    smaller ones up to ``MIN_BODY_SIZE_PX`` (at most ``MAX_ZOOM_IN``)."""
    size = column.body_size_px
    if size > MAX_BODY_SIZE_PX:
        return float(min(size / MAX_BODY_SIZE_PX, MAX_ZOOM_OUT))
    if 0.0 < size < MIN_BODY_SIZE_PX:
        return float(max(size / MIN_BODY_SIZE_PX, 1.0 / MAX_ZOOM_IN))
    return 1.0


@torch.no_grad()
def read_levels(
    network: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    content_shape=None,
    min_lean_deg: float = MIN_LEAN_DEG,
    first: Optional[torch.Tensor] = None,
) -> Reading:
    """The levels network's :class:`Reading` of ``image`` ``[1, rows, cols]``, looked at twice when needed.

    ``content_shape``: the film's extent in the image's top-left corner (a letterbox's scaled shape; the rest is
    padding), the whole image when None. A first look finds the column; when it leans by ``min_lean_deg`` or more
    or its bodies are larger or smaller than the network reads well, the film is resampled about the column's
    centre (turned upright, zoomed out or in), looked at again, and the second look's logits are brought back onto
    the image's grid. Pixels the second view never saw (the corners of a turned view, the margins of a zoomed-in
    one) keep the first look's logits.
    ``first``: the network's logits on ``image`` when the caller has them already (``lib.models.polarity``).
    """
    if image.ndim != 3 or image.shape[0] != 1:
        raise ValueError(f"image must be [1, rows, cols], got shape {list(image.shape)}")
    content_rows, content_cols = content_shape if content_shape is not None else image.shape[-2:]
    first = network(image[None])[0] if first is None else first
    column = body_column(first)
    if column is None:
        return Reading(first)
    turn, zoom_out = abs(column.lean_deg) >= min_lean_deg, zoom_out_for(column)
    if not turn and zoom_out == 1.0:
        return Reading(first)
    film = image[:, :content_rows, :content_cols]
    second = network(_resampled(film, column, zoom_out, turn, False, image.shape[-2:])[None])[0]
    back = _resampled(second, column, zoom_out, turn, inverse=True)
    seen = _resampled(torch.ones_like(image), column, zoom_out, turn, inverse=True)[0] > 0.999
    return Reading(torch.where(seen[None], back, first), column.lean_deg if turn else 0.0, round(zoom_out, 2))
