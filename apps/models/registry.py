"""The registry of served models, read by the app, the command line and the tests alike.

Each entry builds a ``ServedModel`` (``apps.models.base``); ``Settings.models`` chooses which are built.
"""

from __future__ import annotations

from typing import Callable, Dict

from apps.models.base import ServedModel
from apps.models.compression import CompressionModel
from apps.models.landmarks import LandmarksModel
from apps.models.levels import LevelsModel
from apps.models.pipeline import PipelineModel
from lib.core.settings import Settings

MODEL_REGISTRY: Dict[str, Callable[[Settings, str], ServedModel]] = {
    "levels": LevelsModel,
    "compression": CompressionModel,
    "landmarks": LandmarksModel,
    "pipeline": PipelineModel,  # after the models it joins
}


def build_models(settings: Settings, app_dir: str) -> Dict[str, ServedModel]:
    """Build the registered models that ``settings.models`` asks for, in registry order.

    One ``peers`` dict is shared by all, so a model another one needs (levels under compression and the
    pipeline, the landmark refiner under the pipeline) is built once and its network loaded once.
    """
    built: Dict[str, ServedModel] = {}
    for name, factory in MODEL_REGISTRY.items():
        if name in settings.models and name not in built:
            built[name] = factory(settings, app_dir, peers=built)
    return {name: built[name] for name in MODEL_REGISTRY if name in settings.models}
