"""What one served model contributes to the app: infer tasks, train tasks, strategies, scoring methods."""

from __future__ import annotations

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
