"""One crop function for serving and training: the pipeline, the compression task and the trainer's crop set cut
the same crops of a film, so the classifier is trained on what it is served."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from apps.datastores.local import RadiographDatastore
from apps.models.registry import build_models
from apps.paths import APP_DIR
from lib.core.settings import parse_settings
from lib.io.reader import read_radiograph
from lib.models.classifier import classify_crops
from lib.models.crops import build_crop_set, normalise_crop

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def served(phantom_cohort, tmp_path_factory, one_torch_thread):
    """The shipped models and one phantom film whose C2-C6 the levels model finds, with its level map."""
    studies = phantom_cohort(tmp_path_factory.mktemp("crops") / "studies", patients=3, seed=11)
    datastore = RadiographDatastore(str(studies), max_image_pixels=50_000_000, auto_reload=False)
    settings = dataclasses.replace(parse_settings({"device": "cpu"}), models=("pipeline", "compression"))
    models = build_models(settings, str(APP_DIR))
    for image_id in sorted(datastore.list_images()):
        uri = datastore.get_image_uri(image_id)
        image = read_radiograph(uri)
        levels = models["compression"].peer("levels").infer_task.levels_on_pixels(image)
        if {"C2", "C3", "C4", "C5", "C6"} <= set(levels["levels_report"].found):
            return models, uri, image, levels
    raise AssertionError("no phantom film with C2-C6 found by the shipped levels model")


def test_pipeline_task_and_trainer_cut_the_same_crops(served):
    models, uri, image, levels = served
    pipeline = models["pipeline"].infer_task.run({"image": uri})["result"]["segments"]
    with torch.no_grad():
        _, task = models["compression"].infer_task({"image": uri, "device": "cpu"})
    # The trainer cuts its crops from a final label: here the level map the levels model found.
    info = {"segments": {s: {"compression": 0} for s in pipeline}, "patient_id": "p"}
    crop_set = build_crop_set([(image.pixels, levels["pred"], image.spacing_mm, info)], context=1.0)
    with models["compression"].pool.borrow("cpu") as net:
        crops = {s: normalise_crop(c.astype(np.float32)) for s, c in zip(crop_set.segments, crop_set.crops)}
        trained_on = classify_crops(net.network, crops)
    evaluable = [s for s, entry in pipeline.items() if entry["evaluable"]]
    assert len(evaluable) >= 4 and sorted(evaluable) == sorted(crop_set.segments)
    for segment in evaluable:
        assert task["segments"][segment]["probability"] == pytest.approx(pipeline[segment]["probability"], abs=1e-4)
        # float16 storage of the training crops is the only difference
        assert trained_on[segment] == pytest.approx(pipeline[segment]["probability"], abs=2e-3)
