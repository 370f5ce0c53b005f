"""What one served model contributes to the app: infer tasks, train tasks, strategies, scoring methods."""

from __future__ import annotations

import os
from typing import Dict

from lib.settings import Settings


class ServedModel:
    """What one model adds to the app; each hook returns a name -> task mapping (empty by default)."""

    name = ""

    def __init__(self, settings: Settings, app_dir: str):
        self.settings = settings
        self.app_dir = app_dir

    def infer_tasks(self) -> Dict[str, object]:
        return {}

    def train_tasks(self) -> Dict[str, object]:
        return {}

    def strategies(self) -> Dict[str, object]:
        return {}

    def scoring_methods(self) -> Dict[str, object]:
        return {}


def training_provenance(model_name: str) -> dict:
    """How weights about to be published were made: the command and the data, for the model card.

    ``python main.py train`` sets both; a training started by a client through the server says so and names the
    server's datastore.
    """
    from monailabel.config import settings as ml_settings

    return {
        "command": os.environ.get("APP_TRAIN_COMMAND", f"POST /train/{model_name} (MONAI Label server)"),
        "data": os.environ.get("APP_TRAIN_DATA") or f"datastore {ml_settings.MONAI_LABEL_STUDIES or '(unknown)'}",
    }
