"""The compression model end to end on a small phantom datastore: train, publish only if better, infer.

The levels task is replaced by one that returns the datastore's final label, so these checks do not depend on
levels weights; the compression weights, card, threshold and result JSON are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fastapi import HTTPException

from apps.cli.phantom import make_cohort
from apps.datastores.local import RadiographDatastore
from apps.models.compression import CompressionModel
from lib.anatomy.levels import clean_levels
from lib.anatomy.names import SEGMENTS
from lib.core.settings import parse_settings
from lib.io.labels import read_label_map
from lib.models.cards import read_card
from lib.models.polarity import Polarity
from lib.models.weights import read_checkpoint
from trainers.compression import CompressionTrainer

APP_DIR = str(Path(__file__).resolve().parents[2])
REQUEST = {"max_epochs": 2, "train_batch_size": 16, "seed": 0}


class FinalLabelLevels:
    """Stands in for the levels infer task: the final label of the image as its level map."""

    def __init__(self, datastore):
        self.datastore = datastore

    def levels_on_pixels(self, image, device="cpu"):
        image_id = Path(image.path).name.split(".")[0]
        label = read_label_map(self.datastore.get_label_uri(image_id, "final")).astype("uint8")
        report = clean_levels(label, spacing_mm=image.spacing_mm)
        return {
            "pred": report.label_map,
            "levels_report": report,
            "radiograph": {"warnings": []},
            "pixels": image.pixels,
            "polarity": Polarity(inverted=False, contrast_as_read=None, contrast_inverted=None),
        }


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("compression")
    make_cohort(root / "studies", patients=24, seed=0, preset="demo", workers=1)
    datastore = RadiographDatastore(str(root / "studies"), max_image_pixels=50_000_000, auto_reload=False)
    settings = parse_settings({"model_dir": str(root / "model"), "device": "cpu"})
    model = CompressionModel(settings, APP_DIR, levels_task=FinalLabelLevels(datastore))
    trainer = model.trainer()
    stats = trainer(dict(REQUEST), datastore)
    return model, trainer, datastore, stats


def test_training_publishes_weights_and_a_card_with_a_threshold(trained):
    model, trainer, _, stats = trained
    assert stats["publish"]["published"], stats["publish"]
    assert model.weights.is_file()
    card = read_card(model.card)
    assert read_checkpoint(model.weights)[1] == card  # the served checkpoint carries the card it was published with
    assert 0.0 <= card["threshold"] <= 1.0 and card["threshold_method"] == "youden"
    assert card["validation"]["auc"] == pytest.approx(stats["publish"]["candidate_score"], abs=1e-6)
    assert card["input_size"] == [96, 224] and card["training"]["epochs"] == 2
    assert model.pool.card()["threshold"] == card["threshold"]
    assert trainer.stats()["best_metric_epoch"] in (1, 2)


def test_a_run_that_does_not_validate_better_keeps_the_served_model(trained, monkeypatch):
    model, trainer, datastore, _ = trained
    served_bytes, card_before = model.weights.read_bytes(), read_card(model.card)
    served = str(model.weights)
    # The served model scores higher on this run's validation crops than any candidate can.
    monkeypatch.setattr(CompressionTrainer, "_score", lambda self, path, crops: 1.0 if path == served else 0.9)
    monkeypatch.setattr("trainers.compression.auc", lambda targets, probabilities: {"value": 0.9})
    stats = trainer({**REQUEST, "max_epochs": 1, "threshold_method": "sensitivity:0.9"}, datastore)
    assert stats["publish"]["published"] is False and "kept the served model" in stats["publish"]["reason"]
    assert model.weights.read_bytes() == served_bytes
    assert read_card(model.card) == card_before


def test_infer_reports_every_segment_with_the_card_threshold(trained):
    model, _, datastore, _ = trained
    image_id = sorted(datastore.list_images())[0]
    with torch.no_grad():  # as MONAI Label's inferer runs: Grad-CAM must still work
        path, result = model.infer_task({"image": datastore.get_image_uri(image_id), "device": "cpu"})
    assert Path(path).is_file() and read_label_map(path).max() > 0
    Path(path).unlink()
    assert result["model"] == "compression" and result["threshold"] == read_card(model.card)["threshold"]
    assert result["model_version"].startswith("compression-")
    assert list(result["segments"]) == list(SEGMENTS)
    for segment in result["segments"].values():
        if segment["evaluable"]:
            assert 0.0 <= segment["probability"] <= 1.0
            called = segment["probability"] >= result["threshold"]
            assert segment["decision"] == ("compressed" if called else "not compressed")
            assert len(segment["gradcam_peak_px"]) == 2
    assert "C2" in result["label_names"]
    with model.pool.borrow("cpu") as first:
        pass
    with model.pool.borrow("cpu") as second:
        assert second.network is first.network  # the weights were read once and the copy is reused


def test_infer_without_weights_answers_503(tmp_path):
    settings = parse_settings({"model_dir": str(tmp_path), "device": "cpu"})
    model = CompressionModel(settings, APP_DIR, levels_task=object())
    assert not model.pool.available() and model.pool.card() == {}
    with pytest.raises(HTTPException) as caught:
        model.infer_task({"image": "any.dcm"})
    assert caught.value.status_code == 503 and "train" in caught.value.detail
