"""``CervicalCordApp`` built in process the way MONAI Label builds it (``app_instance`` loads main.py): scoring runs
only when asked unless ``--conf auto_scoring true``, and yields the CPU in MONAI Label's task processes."""

from __future__ import annotations

import os
import shutil
import sys
import types
from pathlib import Path

import pytest
from monailabel.config import settings as ml_settings
from monailabel.interfaces.utils.app import app_instance, clear_cache

from tests.dicom_factory import pydicom_data_file

APP_DIR = Path(__file__).resolve().parents[2]
LIGHT = {"models": "levels", "skip_trainers": "true"}


@pytest.fixture
def build_app(tmp_path, monkeypatch):
    """``conf`` -> the app on a one-radiograph datastore (no final label), as ``monailabel start_server`` builds it.

    MONAI Label unloads every ``lib`` module before it loads an app; in this test process that would leave the other
    tests holding classes of the old modules (errors no longer caught, functions no longer picklable), so the
    reload is switched off here (``MONAI_LABEL_RELOAD_APP_LIB``), as a server process never needs it either.
    """
    monkeypatch.setenv("MONAI_LABEL_RELOAD_APP_LIB", "false")
    studies = tmp_path / "studies"
    studies.mkdir()
    shutil.copyfile(pydicom_data_file("RG1_UNCR.dcm"), studies / "chest.dcm")

    def build(conf: dict[str, str]):
        clear_cache()
        return app_instance(app_dir=str(APP_DIR), studies=str(studies), conf={**LIGHT, **conf})

    yield build
    clear_cache()


def _record_scoring(monkeypatch, app) -> list:
    calls = []
    monkeypatch.setattr(app, "async_scoring", lambda method, params=None: calls.append(method))
    return calls


def test_by_default_nothing_scores_at_start_up_or_after_next_sample(build_app, monkeypatch):
    app = build_app({})
    assert type(app).__name__ == "CervicalCordApp"
    assert app._auto_update_scoring is False
    calls = _record_scoring(monkeypatch, app)
    app.on_init_complete()
    assert app.next_sample({"strategy": "first"})["id"] == "chest"
    assert calls == []
    assert "levels_uncertainty" in app.info()["scoring"]  # still served: POST /scoring/levels_uncertainty


def test_auto_scoring_restores_monai_labels_scoring_at_start_up_and_after_next_sample(build_app, monkeypatch):
    app = build_app({"auto_scoring": "true"})
    assert app._auto_update_scoring is True
    calls = _record_scoring(monkeypatch, app)
    app.on_init_complete()
    app.next_sample({"strategy": "first"})
    assert calls == [None, None]  # None: every scoring method, as MONAI Label asks for them


def test_monai_labels_own_switch_still_turns_auto_scoring_off(build_app, monkeypatch):
    monkeypatch.setattr(ml_settings, "MONAI_LABEL_AUTO_UPDATE_SCORING", False)
    assert build_app({"auto_scoring": "true"})._auto_update_scoring is False


def test_scoring_lowers_its_priority_only_in_a_monai_label_task_process(build_app, monkeypatch):
    app = build_app({})
    niced = []
    monkeypatch.setattr(os, "nice", lambda increment: niced.append(increment) or 0)
    assert app.scoring({"method": "levels_dice"})["scored"] == 0  # in this process (the server's case): as is
    assert niced == []
    runner = types.SimpleNamespace(__spec__=types.SimpleNamespace(name="monailabel.interfaces.utils.app"))
    monkeypatch.setitem(sys.modules, "__main__", runner)  # python -m monailabel.interfaces.utils.app -m scoring
    assert app.scoring({"method": "levels_dice"})["scored"] == 0
    assert niced == [10]
