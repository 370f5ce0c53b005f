"""The registry of served models, read by the app, the command line and the tests alike.

Each entry builds a ``ServedModel``: the infer tasks, train tasks, strategies and scoring methods one model
contributes. ``Settings.models`` chooses which entries are built.
"""

from __future__ import annotations

from typing import Callable, Dict

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


# name -> factory; filled in as each model's module lands.
MODEL_REGISTRY: Dict[str, Callable[[Settings, str], ServedModel]] = {}


def build_models(settings: Settings, app_dir: str) -> Dict[str, ServedModel]:
    """Build the registered models that ``settings.models`` asks for, in registry order."""
    return {name: factory(settings, app_dir) for name, factory in MODEL_REGISTRY.items() if name in settings.models}
