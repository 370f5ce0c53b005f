"""What one served model contributes to the app: infer tasks, train tasks, strategies, scoring methods.

Models that build on others (compression on levels, the pipeline on both) take them from ``peers``, the models
already built for this app, so each network is loaded once however many tasks use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

import torch

from lib.core.settings import Settings


def model_folder(settings: Settings, app_dir: str) -> Path:
    """Where weights, cards and training runs live: ``--conf model_dir`` or the app's ``model/``."""
    return Path(settings.model_dir) if settings.model_dir else Path(app_dir) / "model"


def device_name(settings: Settings) -> str:
    if settings.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return settings.device


class ServedModel:
    """What one model adds to the app; each hook returns a name -> task mapping (empty by default)."""

    name = ""

    def __init__(self, settings: Settings, app_dir: str, peers: Optional[dict] = None):
        self.settings = settings
        self.app_dir = app_dir
        self.peers = {} if peers is None else peers  # shared with build_models and the other models
        folder = model_folder(settings, app_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.weights = folder / f"{self.name}.pt"
        self.card = folder / f"{self.name}.json"
        self.train_dir = folder / "train" / self.name

    def peer(self, name: str) -> Optional["ServedModel"]:
        """The app's model ``name``, built here (and shared from then on) when the app has not built it yet."""
        from apps.models.registry import (
            MODEL_REGISTRY,  # the registry imports the model modules
        )

        if name not in self.peers and name in MODEL_REGISTRY:
            self.peers[name] = MODEL_REGISTRY[name](self.settings, self.app_dir, peers=self.peers)
        return self.peers.get(name)

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
