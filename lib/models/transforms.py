"""MONAI-style dictionary transforms that put radiographs and level labels into the models' working geometry.

Every model sees the radiograph letterboxed: scaled (aspect kept) to fit ``(rows, cols)`` and padded with zeros
at the bottom and right. ``Letterbox`` records how, so predictions go back onto the radiograph's own pixels.
Arrays are channel-first ``[C, rows, cols]``.

The dictionary transforms subclass MONAI's ``Transform``: ``CacheDataset`` caches a pipeline only up to its first
transform that is random or not a ``Transform``, so without the base class every epoch read and letterboxed every
film again (about 45 s of a levels epoch of 480 films on a 2-core CPU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import Resize, SpatialPad, Transform
from monai.utils import convert_to_tensor

from lib.core.errors import BadInputError
from lib.io.labels import check_label_matches, read_label_map
from lib.io.reader import DEFAULT_MAX_PIXELS, read_radiograph

LEVELS_INPUT_SIZE = (320, 256)  # rows, cols of the levels network's input
# Labels are downsampled by nearest neighbour at pixel centres: output pixel i takes source pixel
# floor((i + 0.5) / scale), the pixel under its centre, as area-averaged images and the bilinear, centre-aligned
# restore of probabilities see it. Torch's legacy "nearest" takes floor(i / scale), the top-left source pixel, which
# moves a label about 0.5 / scale source pixels down and right of its image: 1.7-1.9 px at the levels' scale.
# (At an even whole-number ratio the centre falls between source pixels and the one below and right is taken.)
LABEL_MODE = "nearest-exact"


@dataclass(frozen=True)
class Letterbox:
    """How a ``[rows, cols]`` image was fitted into ``size``: scale factor and the scaled extent."""

    source_shape: tuple[int, int]
    size: tuple[int, int]
    scale: float
    scaled_shape: tuple[int, int]

    @classmethod
    def fit(cls, source_shape: Sequence[int], size: Sequence[int]) -> "Letterbox":
        rows, cols = int(source_shape[0]), int(source_shape[1])
        scale = min(size[0] / rows, size[1] / cols)
        scaled = (max(1, min(size[0], round(rows * scale))), max(1, min(size[1], round(cols * scale))))
        return cls((rows, cols), (int(size[0]), int(size[1])), float(scale), scaled)

    def apply(self, array: np.ndarray | torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """``[C, rows, cols]`` source -> ``[C, *size]`` letterboxed (``mode``: bilinear, area, nearest-exact or
        nearest; labels take ``LABEL_MODE``)."""
        tensor = _as_tensor(array)
        squeeze = tensor.ndim == 2
        values = (tensor[None] if squeeze else tensor).float()
        scaled = _resize(values, self.scaled_shape, mode)
        out = SpatialPad(self.size, method="end", mode="constant")(scaled)  # zeros at the bottom and right
        out = convert_to_tensor(out, dtype=torch.float32, track_meta=False)
        return out[0] if squeeze else out

    def restore(self, array: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """``[C, *size]`` (e.g. class probabilities) -> ``[C, *source_shape]`` on the radiograph's pixels."""
        cropped = array[:, : self.scaled_shape[0], : self.scaled_shape[1]].float()
        return convert_to_tensor(_resize(cropped, self.source_shape, mode), track_meta=False)

    def restore_region(self, array: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
        """Like ``restore`` (bilinear) but only for source pixels ``rows[0]:rows[1], cols[0]:cols[1]``.

        Samples exactly where ``F.interpolate(align_corners=False)`` would, so a region equals the same crop of a
        full restore, at a fraction of the cost when the anatomy fills a small part of the radiograph.
        """
        # Hand-written: MONAI's Resize and Resample produce the whole output grid; a sub-window of the resized
        # image needs its own sampling grid, so the grid is built here and sampled with ``F.grid_sample``.
        height, width = self.scaled_shape
        scale_r, scale_c = height / self.source_shape[0], width / self.source_shape[1]
        r = (torch.arange(rows[0], rows[1], dtype=torch.float32) + 0.5) * scale_r  # in scaled pixel units, +0.5
        c = (torch.arange(cols[0], cols[1], dtype=torch.float32) + 0.5) * scale_c
        grid_y = (r / height * 2 - 1)[:, None].expand(-1, c.numel())
        grid_x = (c / width * 2 - 1)[None, :].expand(r.numel(), -1)
        grid = torch.stack([grid_x, grid_y], dim=-1)[None]
        source = array[:, :height, :width][None].float()
        return F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]

    def source_box(
        self, low_rows: tuple[int, int], low_cols: tuple[int, int]
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Source-pixel bounds covering letterbox rows/cols ``[start, stop)``, clipped to the radiograph."""
        rows = (int(low_rows[0] / self.scale), int(np.ceil(low_rows[1] / self.scale)))
        cols = (int(low_cols[0] / self.scale), int(np.ceil(low_cols[1] / self.scale)))
        return (
            (max(0, rows[0]), min(self.source_shape[0], rows[1])),
            (max(0, cols[0]), min(self.source_shape[1], cols[1])),
        )

    def as_dict(self) -> dict:
        return asdict(self)


def _as_tensor(array) -> torch.Tensor:
    """A tensor as it is, anything else (NumPy, MONAI MetaTensor input lists) through ``np.asarray``."""
    return array if torch.is_tensor(array) else torch.as_tensor(np.asarray(array))


def _resize(values: torch.Tensor, shape: tuple[int, int], mode: str) -> torch.Tensor:
    """``[C, rows, cols]`` float32 -> ``[C, *shape]`` by MONAI's Resize (``F.interpolate`` underneath)."""
    resize = Resize(shape, mode=mode, align_corners=False if mode == "bilinear" else None, dtype=torch.float32)
    return resize(values)


class LoadRadiographd(Transform):
    """``data[key]`` path -> ``[1, rows, cols]`` float32 in the app's convention; provenance in ``radiograph`` (with
    the viewer geometry label maps are written on, as JSON) and the measurement spacing in ``spacing_mm``."""

    def __init__(self, keys: Sequence[Hashable] = ("image",), max_pixels: int = DEFAULT_MAX_PIXELS):
        self.keys, self.max_pixels = tuple(keys), max_pixels

    def __call__(self, data: Mapping) -> dict:
        out = dict(data)
        for key in self.keys:
            image = read_radiograph(out[key], max_pixels=self.max_pixels)
            out[key] = image.pixels[None]
            out["radiograph"] = image.describe()
            out["spacing_mm"] = image.spacing_mm
        return out


class LoadLevelLabeld(Transform):
    """``data[key]`` label file -> ``[1, rows, cols]`` uint8 canonical ids, checked against ``data[image_key]``."""

    def __init__(self, keys: Sequence[Hashable] = ("label",), image_key: str = "image"):
        self.keys, self.image_key = tuple(keys), image_key

    def __call__(self, data: Mapping) -> dict:
        out = dict(data)
        image_shape = tuple(np.asarray(out[self.image_key]).shape[-2:])
        for key in self.keys:
            label = read_label_map(out[key])
            out[key] = check_label_matches(label, image_shape, name=f"label {out[key]}")[None]
        return out


class Letterboxd(Transform):
    """Letterbox ``keys`` to ``size``; images bilinear (area when shrinking), labels by pixel-centre nearest neighbour
    (``LABEL_MODE``).

    The geometry goes to ``data["letterbox"]``."""

    def __init__(
        self, keys: Sequence[Hashable], size: Sequence[int] = LEVELS_INPUT_SIZE, label_keys: Sequence[Hashable] = ()
    ):
        self.keys, self.size, self.label_keys = tuple(keys), tuple(size), set(label_keys)

    def __call__(self, data: Mapping) -> dict:
        out = dict(data)
        first = np.asarray(out[self.keys[0]])
        if first.ndim != 3:
            raise BadInputError(f"expected a [C, rows, cols] array for {self.keys[0]!r}, got shape {first.shape}")
        box = Letterbox.fit(first.shape[-2:], self.size)
        for key in self.keys:
            if key in self.label_keys:
                out[key] = box.apply(out[key], mode=LABEL_MODE).to(torch.uint8)
            else:
                out[key] = box.apply(out[key], mode="area" if box.scale < 1 else "bilinear")
        out["letterbox"] = box.as_dict()
        return out


class Shrinkd(Transform):
    """Scale ``keys`` down (aspect kept, no padding) to fit ``max_shape``; images by area, labels like the letterbox.

    Training with a random field-of-view crop must crop before the letterbox; shrinking the full film first to a
    few times the network's input keeps that crop and the cache cheap without changing what the network sees.
    Images already inside ``max_shape`` are left alone.
    """

    def __init__(self, keys: Sequence[Hashable], max_shape: Sequence[int], label_keys: Sequence[Hashable] = ()):
        self.keys, self.max_shape, self.label_keys = tuple(keys), tuple(max_shape), set(label_keys)

    def __call__(self, data: Mapping) -> dict:
        out = dict(data)
        box = Letterbox.fit(np.asarray(out[self.keys[0]]).shape[-2:], self.max_shape)
        if box.scale >= 1:
            return out
        for key in self.keys:
            values = _as_tensor(out[key]).float()
            if key in self.label_keys:
                out[key] = _resize(values, box.scaled_shape, LABEL_MODE).to(torch.uint8)
            else:
                out[key] = _resize(values, box.scaled_shape, "area")
        return out


class ArgmaxOneHotd(Transform):
    """``data[pred_key]`` ``[C, rows, cols]`` logits -> one-hot of their argmax; ``data[label_key]`` ``[1, rows,
    cols]`` ids -> one-hot: what ``AsDiscreted(argmax=(True, False), to_onehot=...)`` makes, for the Dice metrics.

    The argmax runs on a channels-last copy: torch's CPU argmax over the first dimension of ``[8, 320, 256]`` takes
    about 13 ms against 2 ms, which was a quarter of a levels training epoch on a 2-core CPU.
    """

    def __init__(self, pred_key: str = "pred", label_key: str = "label", n_classes: int = 2):
        self.pred_key, self.label_key, self.n_classes = pred_key, label_key, n_classes

    def __call__(self, data: Mapping) -> dict:
        out = dict(data)
        logits = convert_to_tensor(out[self.pred_key], track_meta=False)
        out[self.pred_key] = self._one_hot(logits.movedim(0, -1).contiguous().argmax(-1))
        out[self.label_key] = self._one_hot(convert_to_tensor(out[self.label_key], track_meta=False)[0].long())
        return out

    def _one_hot(self, ids: torch.Tensor) -> torch.Tensor:
        return F.one_hot(ids, self.n_classes).movedim(-1, 0).float()
