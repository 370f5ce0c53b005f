"""Domain randomisation for training on phantoms that must work on real films: MONAI dictionary transforms.

``film_augmentations`` composes what varies between departments and exports: facing (flip), posture and framing
(rotation, scale, shear, elastic warp), contrast (gamma, intensity scale, histogram shift, histogram equalisation),
polarity (an inverted film, as a MONOCHROME1 image read without its tag or a negative screenshot), blur or
sharpening, noise, JPEG artefacts and burned-in text and markers. ``RandFieldOfViewCropd`` crops the field of view
and ``RandSpineCropd`` draws a field around the spine (run them before the letterbox). Images are channel-first
``[1, rows, cols]`` in [0, 1], bone bright; label keys are moved with the image by nearest neighbour and never
touched by the intensity transforms.

Not used by the default training yet: the levels trainer takes it with ``augmentation="film"``.
"""

from __future__ import annotations

import io
from typing import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.transforms import (
    Compose,
    Lambdad,
    MapTransform,
    Rand2DElasticd,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSharpend,
    RandGaussianSmoothd,
    RandHistogramShiftd,
    RandomizableTransform,
    RandScaleIntensityd,
)
from monai.transforms.utils import generate_spatial_bounding_box
from PIL import Image, ImageDraw, ImageFont

MARKERS = ("L", "R", "LAT", "L LAT", "R LAT", "lat", "ERECT", "C-SPINE", "FLEX", "EXT", "12.03.2019", "SUPINE")


def _as_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def _like(result: np.ndarray, original):
    """``result`` in the type (tensor or array) and dtype of ``original``."""
    if isinstance(original, torch.Tensor):
        return torch.as_tensor(result, dtype=original.dtype, device=original.device)
    return result.astype(np.asarray(original).dtype, copy=False)


def equalize_histogram(image, bins: int = 256):
    """Histogram equalisation of a ``[C, rows, cols]`` image in [0, 1] (each channel on its own)."""
    values = _as_numpy(image).astype(np.float32)
    out = np.empty_like(values)
    for c, channel in enumerate(values):
        hist, edges = np.histogram(channel, bins=bins, range=(0.0, 1.0))
        cdf = np.cumsum(hist).astype(np.float64)
        cdf = (cdf - cdf[0]) / max(cdf[-1] - cdf[0], 1.0)
        out[c] = np.interp(channel, edges[1:], cdf)
    return _like(out, image)


class _RandEachKeyd(RandomizableTransform, MapTransform):
    """With probability ``prob``, ``apply`` to every key's value (one draw for all keys)."""

    def __init__(self, keys: Sequence[Hashable], prob: float):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)

    def apply(self, value):
        raise NotImplementedError

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        self.randomize(None)
        if self._do_transform:
            for key in self.key_iterator(d):
                d[key] = self.apply(d[key])
        return d


class RandInvertd(_RandEachKeyd):
    """With probability ``prob``, ``1 - x``: a film whose polarity was lost before the reader could fix it."""

    def __init__(self, keys: Sequence[Hashable], prob: float = 0.1):
        super().__init__(keys, prob)

    def apply(self, value):
        return 1.0 - value


class RandEqualizeHistogramd(_RandEachKeyd):
    """With probability ``prob``, histogram equalisation (``equalize_histogram``): a department's flattening LUT.

    Not MONAI's ``RandLambdad``: that one pops the operation it recorded on the image, and training turns the
    recording off (``disable_meta_tracking``), so it fails there."""

    def __init__(self, keys: Sequence[Hashable], prob: float = 0.15):
        super().__init__(keys, prob)

    def apply(self, value):
        return equalize_histogram(value)


class RandJpegd(RandomizableTransform, MapTransform):
    """With probability ``prob``, an 8-bit JPEG round trip at a quality drawn from ``quality``: export artefacts."""

    def __init__(self, keys: Sequence[Hashable], prob: float = 0.3, quality: tuple[int, int] = (15, 90)):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.quality = quality
        self._quality = quality[1]

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self._quality = int(self.R.randint(self.quality[0], self.quality[1] + 1))

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        for key in self.key_iterator(d):
            values = _as_numpy(d[key])
            out = np.empty(values.shape, dtype=np.float32)
            for c, channel in enumerate(values):
                buffer = io.BytesIO()
                Image.fromarray(np.round(np.clip(channel, 0, 1) * 255).astype(np.uint8)).save(
                    buffer, format="JPEG", quality=self._quality
                )
                out[c] = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32) / 255.0
            d[key] = _like(out, d[key])
        return d


class RandTextd(RandomizableTransform, MapTransform):
    """With probability ``prob``, one to three burned-in markers or text lines in random corners, white or black."""

    def __init__(
        self, keys: Sequence[Hashable], prob: float = 0.5, height_fraction: tuple[float, float] = (0.03, 0.07)
    ):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.height_fraction = height_fraction

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        n = int(self.R.randint(1, 4))
        texts = [MARKERS[int(self.R.randint(len(MARKERS)))] for _ in range(n)]
        corners = self.R.permutation(4)[:n]
        fraction = float(self.R.uniform(*self.height_fraction))
        value = 1.0 if self.R.rand() < 0.8 else 0.0
        for key in self.key_iterator(d):
            values = _as_numpy(d[key]).astype(np.float32)
            rows, cols = values.shape[-2:]
            layer = Image.new("L", (cols, rows), 0)
            draw = ImageDraw.Draw(layer)
            font = ImageFont.load_default(size=max(8, int(fraction * rows)))
            for text, corner in zip(texts, corners):
                width = draw.textlength(text, font=font)
                x = 0.03 * cols if corner % 2 == 0 else max(0.0, 0.97 * cols - width)
                y = 0.03 * rows if corner < 2 else 0.97 * rows - fraction * rows
                draw.text((x, y), text, fill=255, font=font)
            mask = np.asarray(layer) > 127
            values[:, mask] = value
            d[key] = _like(values, d[key])
        return d


class RandFieldOfViewCropd(RandomizableTransform, MapTransform):
    """With probability ``prob``, keep a random window of ``fraction`` of the rows and of the columns (image and
    labels alike): fields from the whole neck to a tight crop. Run before the letterbox."""

    def __init__(self, keys: Sequence[Hashable], prob: float = 0.3, fraction: tuple[float, float] = (0.6, 1.0)):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.fraction = fraction
        self._window = (0.0, 1.0, 0.0, 1.0)

    def randomize(self, data=None) -> None:
        super().randomize(None)
        fr, fc = (float(self.R.uniform(*self.fraction)) for _ in range(2))
        r0, c0 = float(self.R.uniform(0.0, 1.0 - fr)), float(self.R.uniform(0.0, 1.0 - fc))
        self._window = (r0, fr, c0, fc)

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        r0, fr, c0, fc = self._window
        for key in self.key_iterator(d):
            rows, cols = d[key].shape[-2:]
            n_rows, n_cols = max(1, int(round(fr * rows))), max(1, int(round(fc * cols)))
            rs, cs = min(int(round(r0 * rows)), rows - n_rows), min(int(round(c0 * cols)), cols - n_cols)
            d[key] = d[key][..., rs : rs + n_rows, cs : cs + n_cols]
        return d


class RandSpineCropd(RandomizableTransform, MapTransform):
    """With probability ``prob``, crop image and labels to the vertebral bodies' bounding box and random margins.

    What teaching files, screenshots and collimated films show: a field drawn around the spine, from a tight C2-C6
    window (the bodies and little else) to the whole neck. A random window (``RandFieldOfViewCropd``) rarely lands
    that tight on the spine, so the letterboxed bodies of such a film are larger than any the model saw. Margins
    are fractions of the box: rows above and below (a negative one cuts into the top or bottom body, as a crop
    that stops at C6 does), columns left and right. Run before the letterbox; a label without bodies is left alone.
    """

    def __init__(
        self,
        keys: Sequence[Hashable],
        label_key: str = "label",
        prob: float = 0.25,
        row_margin: tuple[float, float] = (-0.2, 0.4),
        col_margin: tuple[float, float] = (0.3, 2.0),
        body_ids: Sequence[int] = (1, 2, 3, 4, 5, 6),
    ):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.label_key, self.row_margin, self.col_margin = label_key, row_margin, col_margin
        self.body_ids = tuple(body_ids)
        self._margins = (0.0, 0.0, 0.0, 0.0)

    def randomize(self, data=None) -> None:
        super().randomize(None)
        top, bottom = (float(self.R.uniform(*self.row_margin)) for _ in range(2))
        left, right = (float(self.R.uniform(*self.col_margin)) for _ in range(2))
        self._margins = (top, bottom, left, right)

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        bodies = np.isin(_as_numpy(d[self.label_key]), self.body_ids)
        if not bodies.any():
            return d
        (r0, c0), (r1, c1) = generate_spatial_bounding_box(bodies)
        top, bottom, left, right = (
            int(round(m * size)) for m, size in zip(self._margins, (r1 - r0, r1 - r0, c1 - c0, c1 - c0))
        )
        for key in self.key_iterator(d):
            rows, cols = d[key].shape[-2:]
            rs, re = max(0, r0 - top), min(rows, r1 + bottom)
            cs, ce = max(0, c0 - left), min(cols, c1 + right)
            if re - rs >= 2 and ce - cs >= 2:
                d[key] = d[key][..., rs:re, cs:ce]
        return d


def _clip01(image):
    return image.clamp(0.0, 1.0) if isinstance(image, torch.Tensor) else np.clip(image, 0.0, 1.0)


def film_augmentations(
    image_key: str = "image", label_keys: Sequence[str] = ("label",), size: tuple[int, int] = (320, 256)
) -> Compose:
    """The composed randomisation for letterboxed ``[1, rows, cols]`` images of ``size`` (and their labels)."""
    keys = (image_key, *label_keys)
    modes = ("bilinear",) + ("nearest",) * len(label_keys)
    rows, cols = size
    return Compose(
        [
            RandFlipd(keys, prob=0.5, spatial_axis=1),  # facing left or right
            RandAffined(
                keys,
                prob=0.8,
                rotate_range=0.52,  # about 30 degrees: a department's rotated film on top of the neck's own tilt
                scale_range=0.2,
                shear_range=0.1,
                translate_range=(0.08 * rows, 0.08 * cols),
                mode=modes,
                padding_mode="zeros",
            ),
            Rand2DElasticd(keys, spacing=(rows // 6, cols // 6), magnitude_range=(0.0, 1.5), prob=0.2, mode=modes),
            RandInvertd(image_key, prob=0.1),
            RandEqualizeHistogramd(image_key, prob=0.15),
            RandAdjustContrastd(image_key, prob=0.5, gamma=(0.5, 2.0)),
            RandScaleIntensityd(image_key, factors=0.25, prob=0.5),
            RandHistogramShiftd(image_key, num_control_points=(5, 10), prob=0.3),
            RandGaussianSmoothd(image_key, sigma_x=(0.3, 1.5), sigma_y=(0.3, 1.5), prob=0.2),
            RandGaussianSharpend(image_key, prob=0.2),
            Lambdad(image_key, func=_clip01),
            RandGaussianNoised(image_key, prob=0.4, std=0.04),
            Lambdad(image_key, func=_clip01),
            RandTextd(image_key, prob=0.5),
            RandJpegd(image_key, prob=0.3),
        ]
    )
