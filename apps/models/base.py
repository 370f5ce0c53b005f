"""What one served model contributes to the app, on MONAI Label's own ``TaskConfig``: its infer tasks, its train
task, strategies and scoring methods, and the one pool its network is served from.

Models that build on others (compression on levels, the pipeline on all three) take them from ``peers``, the
models already built for this app, so each weight file has one pool however many tasks use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Optional

import torch
from monailabel.interfaces.config import TaskConfig

from lib.core.settings import Settings
from lib.io.geometry import warm_up as warm_up_itk
from lib.models.weights import NetworkPool


def model_folder(settings: Settings, app_dir: str) -> Path:
    """Where weights, cards and training runs live: ``--conf model_dir`` or the app's ``model/``."""
    return Path(settings.model_dir) if settings.model_dir else Path(app_dir) / "model"


def device_name(settings: Settings) -> str:
    if settings.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return settings.device


class ServedModel(TaskConfig):
    """One model of the app. ``network_factory`` (None for a model without weights of its own) builds the
    untrained network its checkpoint ``<model_dir>/<name>.pt`` loads into; ``pool`` serves that checkpoint."""

    name = ""
    network_factory: Optional[Callable[[], torch.nn.Module]] = None

    def __init__(self, settings: Settings, app_dir: str, peers: Optional[dict] = None):
        name = type(self).name  # TaskConfig.__init__ resets the instance's name; init() sets it again
        super().__init__()
        folder = model_folder(settings, app_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.init(name, str(folder), conf={}, planner=None)
        self.settings = settings
        self.app_dir = app_dir
        self.device = device_name(settings)
        self.peers = {} if peers is None else peers  # shared with build_models and the other models
        self.weights = folder / f"{name}.pt"
        self.card = folder / f"{name}.json"  # a copy for people; the checkpoint carries the card served
        self.train_dir = folder / "train" / name
        factory = type(self).network_factory
        self.pool = NetworkPool(self.weights, factory) if factory else None
        if self.pool and settings.preload and self.pool.available():
            with self.pool.borrow(self.device):
                pass  # read the weights now rather than on the first request
        if settings.preload:
            warm_up_itk()  # the viewer geometry of every radiograph read is read by ITK

    def peer(self, name: str) -> Optional["ServedModel"]:
        """The app's model ``name``, built here (and shared from then on) when the app has not built it yet."""
        from apps.models.registry import MODEL_REGISTRY  # the registry imports the model modules

        if name not in self.peers and name in MODEL_REGISTRY:
            self.peers[name] = MODEL_REGISTRY[name](self.settings, self.app_dir, peers=self.peers)
        return self.peers.get(name)

    def infer(self) -> Dict[str, object]:
        return {}

    def trainer(self):
        return None

    def strategy(self) -> Dict[str, object]:
        return {}

    def scoring_method(self) -> Dict[str, object]:
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
