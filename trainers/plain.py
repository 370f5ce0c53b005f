"""What the plain-loop trainers (compression, landmarks) share: their MONAI Label face and the cosine schedule.

Both train small networks on data cut once into memory, so they run their own loop instead of MONAI Label's
Ignite workflow, and both publish through ``lib.model_card.publish_if_better``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from monailabel.interfaces.tasks.train import TrainTask

from lib.model_card import PublishDecision, read_card


class PlainTrainTask(TrainTask):
    """A train task with its options (``defaults`` updated by ``config``), a run folder and the publish target."""

    def __init__(self, description: str, defaults: dict, model_dir, network_factory, publish_path, card_path,
                 card_fields, max_pixels: int, config: dict | None = None, device: str = "cpu"):
        super().__init__(description)
        self.model_dir = Path(model_dir)
        self._network_factory = network_factory
        self._served_path, self._card_path, self._card_fields = Path(publish_path), Path(card_path), card_fields
        self._max_pixels, self._device = max_pixels, device
        self._config = {**defaults, **(config or {})}
        self.last_decision: PublishDecision | None = None

    def config(self):
        return dict(self._config)

    def stats(self):
        return read_card(self.model_dir / "stats.json")

    def options(self, request: dict | None) -> dict:
        """The defaults overridden by the request's values that are set."""
        return {**self._config, **{k: v for k, v in (request or {}).items() if v is not None}}


def cosine_schedule(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate from its start value down to zero over ``steps`` optimiser steps (half a cosine)."""
    steps = max(1, steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))
