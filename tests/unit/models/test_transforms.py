"""Letterboxing into the network's input and back onto the radiograph's pixels."""

import numpy as np
import pytest
import torch

from lib.models.transforms import Letterbox, Letterboxd, Shrinkd


def test_letterbox_keeps_aspect_and_pads_bottom_right():
    box = Letterbox.fit((1200, 933), (320, 256))
    assert box.scaled_shape == (320, 249)
    image = torch.ones(1, 1200, 933)
    boxed = box.apply(image)
    assert boxed.shape == (1, 320, 256)
    assert float(boxed[0, :, :249].min()) == pytest.approx(1.0) and float(boxed[0, :, 249:].max()) == 0.0


def test_restore_maps_probabilities_back_and_a_region_equals_the_full_restore():
    box = Letterbox.fit((600, 500), (320, 256))
    low = torch.rand(3, 320, 256)
    full = box.restore(low)
    assert full.shape == (3, 600, 500)
    region = box.restore_region(low, (100, 350), (40, 420))
    np.testing.assert_allclose(region.numpy(), full[:, 100:350, 40:420].numpy(), atol=1e-4)


def test_labels_use_nearest_and_keep_their_ids():
    label = np.zeros((1, 400, 300), np.uint8)
    label[0, 100:200, 50:150] = 3
    out = Letterboxd(("label",), (200, 160), label_keys=("label",))({"label": label})
    assert out["label"].dtype == torch.uint8 and set(torch.unique(out["label"]).tolist()) == {0, 3}
    assert out["letterbox"]["source_shape"] == (400, 300)


def _reference_letterbox(values: torch.Tensor, box: Letterbox, mode: str) -> torch.Tensor:
    """The letterbox written out with torch: ``F.interpolate`` onto the scaled extent, zeros below and right."""
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    scaled = torch.nn.functional.interpolate(values[None].float(), size=box.scaled_shape, mode=mode, **kwargs)[0]
    out = torch.zeros((values.shape[0], *box.size), dtype=torch.float32)
    out[:, : box.scaled_shape[0], : box.scaled_shape[1]] = scaled
    return out


@pytest.mark.parametrize("shape", [(1200, 933), (90, 100), (320, 256), (321, 255), (37, 400)])
@pytest.mark.parametrize("mode", ["bilinear", "area", "nearest", "nearest-exact"])
def test_monai_letterbox_and_restore_equal_the_torch_reference(shape, mode):
    rng = np.random.default_rng(sum(shape))
    box = Letterbox.fit(shape, (320, 256))
    if mode.startswith("nearest"):
        source = torch.as_tensor(rng.integers(0, 8, (2, *shape)).astype(np.uint8))
    else:
        source = torch.as_tensor(rng.random((2, *shape), dtype=np.float32))
    boxed, expected = box.apply(source, mode), _reference_letterbox(source, box, mode)
    assert type(boxed) is torch.Tensor and boxed.dtype == torch.float32  # a plain tensor, no MONAI metadata
    low = torch.rand(3, 320, 256, generator=torch.Generator().manual_seed(1))
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    cropped = low[None, :, : box.scaled_shape[0], : box.scaled_shape[1]]
    restored = torch.nn.functional.interpolate(cropped, size=box.source_shape, mode=mode, **kwargs)[0]
    if mode.startswith("nearest"):
        assert torch.equal(boxed, expected) and torch.equal(box.restore(low, mode), restored)
    else:
        assert float((boxed - expected).abs().max()) < 1e-6
        assert float((box.restore(low, mode) - restored).abs().max()) < 1e-6


def _round_trip_centroid_shift(shape: tuple[int, int], mode: str | None) -> np.ndarray:
    """Mean (down, right) centroid shift, in source pixels, of a label letterboxed (``mode``, or ``Letterboxd``'s
    label path when None) and restored as inference restores class probabilities (bilinear, ``Letterbox.restore``).

    The label is a 6 x 5 grid of discs whose positions step through one letterbox pixel in both axes, so the
    shift of each disc by its own sub-pixel position averages out and what remains is the systematic part. The
    restored centroid is weighted by the restored probability of the disc's class (an arg-max would add a
    quantisation of its own that depends on the scale)."""
    box = Letterbox.fit(shape, (320, 256))
    period = np.array(shape) / np.array(box.scaled_shape)  # source pixels per letterbox pixel
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    label = np.zeros(shape, np.uint8)
    grid = (6, 5)
    centres = []
    for k in range(grid[0] * grid[1]):
        cell = np.array([(k // grid[1] + 0.5) * shape[0] / grid[0], (k % grid[1] + 0.5) * shape[1] / grid[1]])
        phase = (np.array([k, (7 * k) % (grid[0] * grid[1])]) + 0.5) / (grid[0] * grid[1])
        centre = (np.floor(cell / period) + phase) * period
        label[(rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < 35**2] = len(centres) % 7 + 1
        centres.append(centre)
    if mode is None:
        low = Letterboxd(("label",), (320, 256), label_keys=("label",))({"label": label[None]})["label"][0]
    else:
        low = box.apply(torch.as_tensor(label)[None], mode=mode)[0]
    onehot = torch.nn.functional.one_hot(low.long(), 8).permute(2, 0, 1).float()
    restored = box.restore(onehot).numpy()
    shifts = []
    for number, centre in enumerate(centres):
        value = number % 7 + 1
        near = (np.abs(rows - centre[0]) < 80) & (np.abs(cols - centre[1]) < 80)  # this disc, not its namesakes
        before = np.argwhere(near & (label == value)).mean(0)
        weights = np.where(near, restored[value], 0.0)
        after = np.array([(rows * weights).sum(), (cols * weights).sum()]) / weights.sum()
        shifts.append(after - before)
    return np.mean(shifts, axis=0)


@pytest.mark.parametrize("shape", [(1200, 933), (1114, 857), (1500, 1300)])
def test_label_letterbox_round_trip_has_no_systematic_shift(shape):
    assert np.abs(_round_trip_centroid_shift(shape, None)).max() < 0.1
    # torch's legacy "nearest" takes the top-left source pixel: the same round trip moves labels down and right
    assert (_round_trip_centroid_shift(shape, "nearest") > 1.0).all()


def test_shrink_scales_a_large_film_down_without_padding_and_keeps_label_ids():
    image = np.zeros((1, 1200, 900), np.float32)
    image[:, 400:800, 300:600] = 1.0
    label = np.zeros((1, 1200, 900), np.uint8)
    label[:, 400:800, 300:600] = 3
    out = Shrinkd(("image", "label"), (640, 512), label_keys=("label",))({"image": image, "label": label})
    assert tuple(out["image"].shape) == (1, 640, 480)  # aspect kept, no pad
    assert out["label"].dtype == torch.uint8 and set(np.unique(out["label"].numpy())) == {0, 3}
    rows = np.nonzero(out["label"][0].numpy().any(axis=1))[0]
    assert abs(rows[0] - 400 * 640 / 1200) <= 1 and abs(rows[-1] + 1 - 800 * 640 / 1200) <= 1


def test_shrink_leaves_a_small_film_alone():
    image = np.random.default_rng(0).random((1, 300, 200), dtype=np.float32)
    out = Shrinkd(("image",), (640, 512))({"image": image})
    assert out["image"] is image


def test_cache_dataset_caches_the_letterboxed_film_before_the_random_transforms():
    """CacheDataset stops caching at the first transform that is random or not a MONAI Transform: every epoch would
    read and letterbox each film again."""
    from monai.data import CacheDataset
    from monai.transforms import Compose, RandFlipd, Transform

    from lib.models.transforms import LEVELS_INPUT_SIZE, LoadLevelLabeld, LoadRadiographd

    items = [{"image": torch.rand(1, 700, 500), "label": torch.zeros(1, 700, 500, dtype=torch.uint8)}]
    pipeline = Compose(
        [
            Shrinkd(("image", "label"), (640, 512), label_keys=("label",)),
            Letterboxd(("image", "label"), LEVELS_INPUT_SIZE, label_keys=("label",)),
            RandFlipd(("image", "label"), prob=0.5, spatial_axis=1),
        ]
    )
    cached = CacheDataset(items, pipeline, progress=False)._cache[0]
    assert tuple(cached["image"].shape) == (1, *LEVELS_INPUT_SIZE)
    assert "letterbox" in cached
    # The file readers at the head of every training pipeline must be cacheable too.
    assert all(isinstance(loader, Transform) for loader in (LoadRadiographd(), LoadLevelLabeld()))


def test_argmax_one_hot_equals_monai_as_discrete():
    from monai.transforms import AsDiscreted

    from lib.models.transforms import ArgmaxOneHotd

    generator = torch.Generator().manual_seed(0)
    data = {"pred": torch.randn(8, 40, 32, generator=generator), "label": torch.randint(0, 8, (1, 40, 32))}
    ours = ArgmaxOneHotd("pred", "label", 8)(dict(data))
    monai = AsDiscreted(("pred", "label"), argmax=(True, False), to_onehot=(8, 8))(dict(data))
    for key in ("pred", "label"):
        assert tuple(ours[key].shape) == (8, 40, 32)
        assert torch.equal(ours[key], torch.as_tensor(monai[key]).float())
