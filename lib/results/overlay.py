"""An overlay picture of one pipeline result: the radiograph, level outlines, positive segments, the Grad-CAM
heatmap and each segment's probability as text. PIL only (no figure machinery), so it costs tens of ms.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from lib.anatomy.names import LEVEL_LABELS
from lib.core.atomic import replace_atomic
from lib.core.errors import BadInputError

logger = logging.getLogger(__name__)

# One colour per level id 1-7 (C2..C7, canal), RGB 0-255.
LEVEL_COLOURS = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
    ],
    dtype=np.float32,
)
POSITIVE_RGB = np.array([255, 0, 0], dtype=np.float32)
HEATMAP_ALPHA = 0.45  # at heat 1; the radiograph stays readable under the map
POSITIVE_ALPHA = 0.35
HEAT_FLOOR = 0.2  # heat below this is not drawn: the faint tail of Grad-CAM hides anatomy for nothing


def _heat_rgb(heat: np.ndarray) -> np.ndarray:
    """A red -> yellow ramp for heat in [0, 1] (no white top, which would read as bone): float32 [rows, cols, 3]."""
    h = np.clip(heat, 0.0, 1.0)[..., None]
    return 255.0 * np.clip(np.concatenate([2 * h, 2 * h - 1, 0 * h], axis=-1), 0.0, 1.0)


def _outlines(label: np.ndarray) -> np.ndarray:
    """Boundary pixels of every non-zero region: bool [rows, cols]."""
    eroded = ndimage.grey_erosion(label, size=3)
    dilated = ndimage.grey_dilation(label, size=3)
    return (label > 0) & ((eroded != label) | (dilated != label))


def _font(size_px: int):
    try:
        return ImageFont.load_default(size=size_px)
    except (TypeError, OSError):  # PIL built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def render_overlay(
    pixels: np.ndarray,
    label: np.ndarray,
    heatmap: Optional[np.ndarray] = None,
    texts: Sequence[tuple] = (),
    title: str = "",
    max_side_px: int = 1600,
) -> Image.Image:
    """The overlay as an RGB PIL image.

    pixels: float [rows, cols] in [0, 1], bone bright. label: uint8 [rows, cols] pipeline labels (1-7 levels,
    8 and above positive segments). heatmap: float [rows, cols] in [0, 1] or None. texts: ``(text, [x, y],
    positive)`` in radiograph pixels. The picture is shrunk so its longer side is at most ``max_side_px``.
    """
    pixels, label = np.asarray(pixels, dtype=np.float32), np.asarray(label)
    if pixels.ndim != 2 or label.shape != pixels.shape:
        raise BadInputError(
            f"overlay needs 2D pixels and a label of the same shape; got {pixels.shape} and {label.shape}"
        )
    scale = min(1.0, max_side_px / max(pixels.shape))
    if scale < 1.0:
        # Nearest for labels, linear for intensities; zoom is cheaper than drawing at full size and shrinking.
        pixels = ndimage.zoom(pixels, scale, order=1)
        label = ndimage.zoom(label, scale, order=0)
        heatmap = None if heatmap is None else ndimage.zoom(np.asarray(heatmap, np.float32), scale, order=1)
    rgb = np.repeat(255.0 * np.clip(pixels, 0, 1)[..., None], 3, axis=-1)
    if heatmap is not None:
        heat = np.asarray(heatmap, dtype=np.float32)
        alpha = np.where(heat >= HEAT_FLOOR, HEATMAP_ALPHA * heat, 0.0)[..., None]
        rgb = (1 - alpha) * rgb + alpha * _heat_rgb(heat)
    positive = label > len(LEVEL_LABELS)
    rgb[positive] = (1 - POSITIVE_ALPHA) * rgb[positive] + POSITIVE_ALPHA * POSITIVE_RGB
    edges = _outlines(np.where(positive, 0, label).astype(np.uint8))
    rgb[edges] = LEVEL_COLOURS[label[edges].astype(int)]
    picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    _draw_texts(picture, texts, title, scale)
    return picture


def _draw_texts(picture: Image.Image, texts: Sequence[tuple], title: str, scale: float) -> None:
    draw = ImageDraw.Draw(picture)
    size_px = max(12, picture.height // 45)
    font = _font(size_px)
    for text, (x, y), positive in texts:
        colour = (255, 60, 60) if positive else (255, 255, 255)
        draw.text(
            (x * scale, y * scale), text, fill=colour, font=font, anchor="mm", stroke_width=2, stroke_fill=(0, 0, 0)
        )
    if title:
        draw.text(
            (size_px // 2, size_px // 2), title, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0)
        )


def write_overlay(
    path,
    pixels: np.ndarray,
    label: np.ndarray,
    heatmap: Optional[np.ndarray] = None,
    texts: Sequence[tuple] = (),
    title: str = "",
    max_side_px: int = 1600,
) -> Path:
    """Render (see ``render_overlay``) and save as PNG atomically; returns the path."""
    path = Path(path)
    picture = render_overlay(pixels, label, heatmap, texts, title, max_side_px)
    replace_atomic(path, lambda f: picture.save(f, format="PNG"))  # a reader never sees half a picture
    return path


def segment_texts(result: Mapping, anchors: Mapping[str, Sequence[float]]) -> list:
    """``(text, [x, y], positive)`` per segment of a pipeline result that has an anchor point."""
    out = []
    for segment, entry in result.get("segments", {}).items():
        anchor = anchors.get(segment)
        if anchor is None:
            continue
        text = f"{segment} {entry['probability']:.2f}" if entry.get("probability") is not None else f"{segment} n/a"
        out.append((text, anchor, bool(entry.get("positive"))))
    return out
