"""Which way a film's grey scale runs: bone bright, as the reader delivers it, or bone dark (a MONOCHROME1 image
exported without its photometric tag, a negative screenshot, a scanned film's negative).

The readers put bone bright whenever the file says how (``lib.io``), but a film whose tag was lost reaches the
network bone dark, and the network, trained mostly on bone-bright films, read such films badly (film-style phantom:
level Dice 0.62, segment AUC 0.74). Its own confidence does not tell the two apart: its mean certainty was higher on
the wrong polarity for 3 of 30 validation films leaning 20 degrees, with margins of a few thousandths. Physics does:
a vertebral body is denser than what lies around it (discs, prevertebral soft tissue, the canal), so on a film read
the right way up the bodies the network paints are brighter than a ring around them. The film is read both ways and
the reading whose bodies stand out brighter from their surroundings, in the grey scale that reading saw, is kept.

The contrast is taken per body class and the median kept, and saturated pixels are left out: a "body" painted on
a film's white corner or the skull base is then outvoted by the column. Measured on the 30 film-style validation
films under every benchmark shift, rotated 30 degrees either way, and inverted after a 30-degree rotation or a
tight crop (16 versions of each film), contrast inverted minus contrast as read: -0.51 to -0.055 on every
bone-bright version, +0.065 to +0.50 on every inverted one; none was read the wrong way up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from scipy import ndimage

# C2..C7 in the levels network's output, and the size under which a body class is a speck, not a body: the same
# as for the second look's body size. A reading with no class that large gives no contrast (no spine), and a film
# neither reading gives one for is read as it is.
from lib.models.second_look import BODY_CLASSES, MIN_CLASS_PIXELS

RING_PX = 6  # width of the surroundings a body's brightness is compared with (network input pixels)
# Pixels this close to black or white carry no density: the black corners of a rotated film (white once turned
# over, where the network painted a "body" brighter than anything around it and a film leaning 30 degrees was read
# the wrong way up), an unexposed field, burned-in text. They count neither as body nor as surroundings.
SATURATION_MARGIN = 0.01
# The film is turned over only when the inverted reading's contrast beats the reading as read by this much: the
# reader's convention stands unless the evidence is clear. On the validation films the right reading led by at
# least 0.055 (the margins in the module's docstring); this is about half that. On the shared real film, whose
# readings are both rough, the inverted one led by 0.009, and without a margin that film was read bone dark.
DECISIVE_MARGIN = 0.03


def body_contrast(image: torch.Tensor, logits: torch.Tensor) -> Optional[float]:
    """How much brighter the bodies ``logits`` paint are than their surroundings on ``image`` ``[rows, cols]``
    (same grid): per body class, its pixels' mean minus that of a ``RING_PX`` ring around it outside every body,
    saturated pixels left out of both; the median over the classes with ``MIN_CLASS_PIXELS`` such pixels (so a
    "body" painted on the skull base or a film's corner is outvoted by the column), ``None`` when none has."""
    # In numpy, and each ring grown only in the body's bounding box: torch's argmax and a 13-pixel max-pool over
    # the whole film took about 200 ms a radiograph on a 2-core CPU, more than the two network passes.
    pixels = np.asarray(image.detach().cpu(), dtype=np.float32)
    labels = np.asarray(logits.detach().cpu()).argmax(axis=0)
    painted = (labels >= BODY_CLASSES[0]) & (labels <= BODY_CLASSES[1])
    dense = (pixels > SATURATION_MARGIN) & (pixels < 1.0 - SATURATION_MARGIN)
    square = np.ones((2 * RING_PX + 1, 2 * RING_PX + 1), dtype=bool)
    contrasts = []
    for level in range(BODY_CLASSES[0], BODY_CLASSES[1] + 1):
        rows, cols = np.nonzero(labels == level)
        if rows.size < MIN_CLASS_PIXELS:
            continue
        # the box around the body and its ring: outside it the ring is empty, so growing it there changes nothing
        box = (
            slice(max(int(rows.min()) - RING_PX, 0), int(rows.max()) + RING_PX + 1),
            slice(max(int(cols.min()) - RING_PX, 0), int(cols.max()) + RING_PX + 1),
        )
        body = labels[box] == level
        ring = ndimage.binary_dilation(body, square) & ~painted[box] & dense[box]
        inside = body & dense[box]
        if int(inside.sum()) >= MIN_CLASS_PIXELS and bool(ring.any()):
            contrasts.append(float(pixels[box][inside].mean() - pixels[box][ring].mean()))
    return float(np.median(contrasts)) if contrasts else None


@dataclass(frozen=True)
class Polarity:
    """How the film was read: ``inverted`` when its grey scale was turned over (bone was dark), and the body
    contrast of each reading (``None`` where it painted no bodies)."""

    inverted: bool
    contrast_as_read: Optional[float]
    contrast_inverted: Optional[float]

    def describe(self) -> dict:
        """What the answer's ``levels`` block says of it."""
        return {"read_inverted": self.inverted}

    @property
    def warnings(self) -> list[str]:
        if not self.inverted:
            return []
        return [
            "bone was dark on this film (a MONOCHROME1 image without its photometric tag, or a negative): it was "
            "read with its grey scale inverted"
        ]

    def applied_to(self, pixels: np.ndarray) -> np.ndarray:
        """``pixels`` in [0, 1] the way this reading saw them (what the landmark refiner and classifier get)."""
        return (1.0 - pixels).astype(pixels.dtype) if self.inverted else pixels


def inverted_content(image: torch.Tensor, content_shape) -> torch.Tensor:
    """``image`` ``[1, rows, cols]`` with its film (the top-left ``content_shape``) turned to ``1 - x`` and the
    letterbox padding left black, as it is around every film the network was trained on."""
    rows, cols = content_shape
    out = image.clone()
    out[:, :rows, :cols] = 1.0 - image[:, :rows, :cols]
    return out


@torch.no_grad()
def read_polarity(
    network: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, content_shape=None
) -> tuple[Polarity, torch.Tensor, torch.Tensor]:
    """``(Polarity, the image the right way up, the network's logits on it)`` for ``image`` ``[1, rows, cols]``.

    Both polarities go through the network in one batch. The inverted reading is kept only when it paints bodies
    that stand out from their surroundings, in its own grey scale, by ``DECISIVE_MARGIN`` more than the reading as
    read does; a reading with no bodies loses to one with bodies, and when neither has any the film is left as it
    is.
    """
    if image.ndim != 3 or image.shape[0] != 1:
        raise ValueError(f"image must be [1, rows, cols], got shape {list(image.shape)}")
    rows, cols = content_shape if content_shape is not None else image.shape[-2:]
    flipped = inverted_content(image, (rows, cols))
    both = network(torch.stack([image, flipped]))
    as_read = body_contrast(image[0, :rows, :cols], both[0, :, :rows, :cols])
    inverted = body_contrast(flipped[0, :rows, :cols], both[1, :, :rows, :cols])
    use_inverted = inverted is not None and (as_read is None or inverted > as_read + DECISIVE_MARGIN)
    polarity = Polarity(use_inverted, as_read, inverted)
    return (polarity, flipped, both[1]) if use_inverted else (polarity, image, both[0])
