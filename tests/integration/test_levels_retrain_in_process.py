"""The levels train task run twice by one process, as the active-learning campaign and any in-process client do
(the server runs each training in a process of its own, so it never saw this): the second run must train too."""

from __future__ import annotations

import pytest

from apps.datastores.local import RadiographDatastore
from apps.models.registry import MODEL_REGISTRY
from apps.paths import APP_DIR
from lib.core.settings import parse_settings

REQUEST = {"model": "levels", "max_epochs": 1, "train_batch_size": 2, "val_batch_size": 1, "warm_start": "served"}


@pytest.fixture(scope="module")
def studies(phantom_cohort, tmp_path_factory):
    return phantom_cohort(tmp_path_factory.mktemp("retrain") / "studies", patients=6, seed=2, preset="demo")


def test_one_train_task_trains_twice_in_one_process(studies, tmp_path):
    settings = parse_settings({"model_dir": str(tmp_path), "device": "cpu"})
    datastore = RadiographDatastore(str(studies), max_image_pixels=settings.max_image_pixels, auto_reload=False)
    task = MODEL_REGISTRY["levels"](settings, str(APP_DIR)).trainer()
    first = task({**REQUEST, "name": "first"}, datastore)
    second = task({**REQUEST, "name": "second"}, datastore)
    for stats in (first, second):
        assert stats["schedule"]["epochs_run"] == 1
        assert "published" in stats["publish"]
