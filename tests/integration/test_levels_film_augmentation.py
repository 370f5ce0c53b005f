"""The levels trainer's opt-in ``augmentation="film"``: the randomised transforms run on a phantom film and label."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from monai.data import get_track_meta, set_track_meta
from monai.transforms import Compose

from lib.core.errors import BadInputError
from lib.models.augment import RandFieldOfViewCropd
from lib.models.transforms import LEVELS_INPUT_SIZE
from lib.phantom import cohort_config, write_cohort
from trainers.levels import LevelsTrainer


@pytest.fixture(scope="module")
def item(tmp_path_factory):
    out = write_cohort(
        tmp_path_factory.mktemp("aug") / "c", cohort_config(patients=1, seed=4, validation_fraction=0, test_fraction=0),
        progress=False, workers=1, style="film",
    )  # fmt: skip
    image = next(out.glob("*.dcm"))
    return {"image": str(image), "label": str(out / "labels" / "final" / f"{image.stem}.nii.gz")}


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trainer")
    return LevelsTrainer(
        model_dir=str(folder), network_factory=None, publish_path=str(folder / "levels.pt"),
        card_path=str(folder / "levels.json"), card_fields=lambda: {}, max_pixels=50_000_000,
    )  # fmt: skip


def test_default_training_keeps_the_standard_transforms(trainer):
    names = [type(t).__name__ for t in trainer.train_pre_transforms(SimpleNamespace(request={}))]
    assert "RandFieldOfViewCropd" not in names and "Compose" not in names


@pytest.fixture
def without_meta_tracking():
    """As training runs the chain: the trainer passes ``disable_meta_tracking`` to MONAI Label's loop."""
    before = get_track_meta()
    set_track_meta(False)
    yield
    set_track_meta(before)


def test_film_augmentation_yields_letterboxed_images_and_level_labels(trainer, item, without_meta_tracking):
    transforms = trainer.train_pre_transforms(SimpleNamespace(request={"augmentation": "film"}))
    assert any(isinstance(t, RandFieldOfViewCropd) for t in transforms)
    chain = Compose(transforms)
    chain.set_random_state(seed=0)
    for _ in range(3):
        out = chain(dict(item))
        image, label = torch.as_tensor(out["image"]), torch.as_tensor(out["label"])
        assert image.shape[-2:] == LEVELS_INPUT_SIZE and label.shape[-2:] == LEVELS_INPUT_SIZE
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
        assert set(torch.unique(label).tolist()) <= set(range(8))


def test_an_unknown_augmentation_is_refused(trainer):
    with pytest.raises(BadInputError, match="augmentation"):
        trainer.train_pre_transforms(SimpleNamespace(request={"augmentation": "heavy"}))
