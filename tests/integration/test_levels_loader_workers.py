"""The levels train task with data-loading workers (``num_workers``): films are cached on threads and augmented in
worker processes beside the loop, the run trains and validates as without them, and a bad count is refused."""

from __future__ import annotations

import os

import pytest

from apps.datastores.local import RadiographDatastore
from apps.models.registry import MODEL_REGISTRY
from apps.paths import APP_DIR
from lib.core.errors import BadInputError
from lib.core.settings import parse_settings

REQUEST = {"model": "levels", "max_epochs": 1, "train_batch_size": 2, "val_batch_size": 1, "warm_start": "served"}


@pytest.fixture(scope="module")
def studies(phantom_cohort, tmp_path_factory):
    return phantom_cohort(tmp_path_factory.mktemp("workers") / "studies", patients=6, seed=3, preset="demo")


def _task_and_store(studies, model_dir):
    settings = parse_settings({"model_dir": str(model_dir), "device": "cpu"})
    datastore = RadiographDatastore(str(studies), max_image_pixels=settings.max_image_pixels, auto_reload=False)
    return MODEL_REGISTRY["levels"](settings, str(APP_DIR)).trainer(), datastore


def test_training_with_a_loader_worker_trains_and_validates(studies, tmp_path):
    task, datastore = _task_and_store(studies, tmp_path)
    stats = task({**REQUEST, "name": "workers", "augmentation": "film", "num_workers": 1}, datastore)
    assert stats["schedule"]["epochs_run"] == 1
    assert 0.0 < stats["best_metric"] <= 1.0  # the selection images were read through the threaded cache
    assert "published" in stats["publish"]


@pytest.mark.parametrize("bad", [-1, "2", True, (os.cpu_count() or 1) + 1])
def test_a_bad_worker_count_is_refused_with_its_reason(studies, tmp_path, bad):
    task, datastore = _task_and_store(studies, tmp_path)
    with pytest.raises(BadInputError, match="num_workers must be an integer"):
        task({**REQUEST, "name": "bad", "num_workers": bad}, datastore)
