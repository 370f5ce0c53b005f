"""The landmark refiner end to end on a small phantom datastore: train, publish only if better, measure with it.

The pipeline runs in process with the shipped levels and compression weights (copied to a scratch model folder) and
the refiner trained here, so the switch from mask landmarks to refined ones is the real one.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from apps.cli.phantom import make_cohort
from apps.datastores.local import RadiographDatastore
from apps.models.landmarks import LandmarksModel
from apps.models.registry import build_models
from lib.core.settings import parse_settings
from lib.models.cards import read_card
from lib.models.weights import read_checkpoint
from trainers.landmarks import LandmarksTrainer

APP_DIR = Path(__file__).resolve().parents[2]
REQUEST = {"max_epochs": 2, "train_batch_size": 32, "seed": 0}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("landmarks")
    make_cohort(root / "studies", patients=12, seed=3, preset="demo", workers=1)
    datastore = RadiographDatastore(str(root / "studies"), max_image_pixels=50_000_000, auto_reload=False)
    model_dir = root / "model"
    model_dir.mkdir()
    for name in ("levels", "compression"):
        for suffix in (".pt", ".json"):
            shutil.copy(APP_DIR / "model" / f"{name}{suffix}", model_dir)
    settings = parse_settings({"model_dir": str(model_dir), "device": "cpu"})
    model = LandmarksModel(settings, str(APP_DIR))
    assert not model.pool.available()  # nothing trained yet
    trainer = model.trainer()
    stats = trainer(dict(REQUEST), datastore)
    return model, trainer, datastore, stats, settings


def test_training_publishes_weights_and_a_card(trained):
    model, trainer, _, stats, _ = trained
    assert stats["publish"]["published"], stats["publish"]
    assert stats["train"]["levels"] > 0 and stats["train"]["points"] >= 2 * stats["train"]["levels"]
    card = read_card(model.card)
    assert card["name"] == "landmarks" and card["points"] == ["posterior_wall", "anterior_wall", "spinolaminar"]
    assert card["validation"]["mean_abs_offset_error_depths"] == pytest.approx(
        -stats["publish"]["candidate_score"], abs=1e-5
    )
    assert card["training"]["epochs"] == 2 and card["version"].startswith("landmarks-")
    assert read_checkpoint(model.weights)[1] == card  # the checkpoint carries the card it was published with


def test_a_run_that_does_not_validate_better_keeps_the_served_model(trained, monkeypatch):
    model, trainer, datastore, _, _ = trained
    served_bytes, card_before = model.weights.read_bytes(), read_card(model.card)
    served = str(model.weights)
    monkeypatch.setattr(LandmarksTrainer, "_score", lambda self, path, points, seed: 0.0 if path == served else -1.0)
    stats = trainer({**REQUEST, "max_epochs": 1}, datastore)
    assert stats["publish"]["published"] is False and "kept the served model" in stats["publish"]["reason"]
    assert model.weights.read_bytes() == served_bytes and read_card(model.card) == card_before


def test_the_pipeline_measures_on_refined_landmarks_and_says_so(trained):
    _, _, datastore, _, settings = trained
    pipeline = build_models(dataclasses.replace(settings, models=("pipeline",)), str(APP_DIR))["pipeline"].infer_task
    image = datastore.get_image_uri(sorted(datastore.list_images())[0])
    data = pipeline.run({"image": image})
    result = data["result"]
    assert result["cervical_spine_found"], result["reason"]
    assert result["measurement_landmarks"] == "level mask refined on the film"
    assert result["model_versions"]["landmarks"].startswith("landmarks-")
    moved = [
        level
        for level in data["landmarks"]
        if data["landmarks"][level].get("spinolaminar") != data["mask_landmarks"][level].get("spinolaminar")
    ]
    assert moved, "the refiner moved no spinolaminar point"


def test_without_refiner_weights_the_pipeline_measures_on_the_mask(trained, tmp_path):
    _, _, datastore, _, settings = trained
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("levels.pt", "levels.json"):
        shutil.copy(Path(settings.model_dir) / name, model_dir)
    bare = dataclasses.replace(settings, models=("pipeline",), model_dir=str(model_dir))
    pipeline = build_models(bare, str(APP_DIR))["pipeline"].infer_task
    data = pipeline.run({"image": datastore.get_image_uri(sorted(datastore.list_images())[0])})
    assert data["result"]["measurement_landmarks"] == "level mask (the landmark refiner has no weights)"
    assert data["landmarks"] == data["mask_landmarks"]
