"""The levels train task in process, as the active-learning campaign and any in-process client run it: run twice by
one process (the server runs each training in a process of its own, so it never saw this), the second run must
train too; with data-loading workers (``num_workers``: films cached on threads, augmented in loader processes) it
trains and validates as without them, and a bad count is refused with the reason."""

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
    return phantom_cohort(tmp_path_factory.mktemp("retrain") / "studies", patients=6, seed=2, preset="demo")


def _task_and_store(studies, model_dir):
    settings = parse_settings({"model_dir": str(model_dir), "device": "cpu"})
    datastore = RadiographDatastore(str(studies), max_image_pixels=settings.max_image_pixels, auto_reload=False)
    return MODEL_REGISTRY["levels"](settings, str(APP_DIR)).trainer(), datastore


def test_one_train_task_trains_twice_in_one_process(studies, tmp_path):
    task, datastore = _task_and_store(studies, tmp_path)
    first = task({**REQUEST, "name": "first"}, datastore)
    second = task({**REQUEST, "name": "second"}, datastore)
    for stats in (first, second):
        assert stats["schedule"]["epochs_run"] == 1
        assert "published" in stats["publish"]


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
