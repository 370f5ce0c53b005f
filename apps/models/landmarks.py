"""The landmark refiner model: weight and card paths, the network it loads, and its train task.

It has no infer task of its own: the pipeline calls it between the level mask and the measurements. Without
weights the pipeline measures on the mask-derived landmarks and says so.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import torch

from apps.models.base import ServedModel, device_name, training_provenance
from lib.models.patches import PATCH_SIZE, PATCH_SPAN, POINTS
from lib.models.refiner import NETWORK_DESCRIPTION, load_refiner, refiner_network
from trainers.landmarks import LandmarksTrainer

NAME = "landmarks"
INTENSITY = (
    f"{PATCH_SIZE}x{PATCH_SIZE} patch of the float32 [0, 1] bone-bright radiograph in the vertebra's frame "
    f"({PATCH_SPAN} body depths a side, lib.models.patches.sample_patch), standardised per patch"
)


class LandmarksModel(ServedModel):
    """Refines the posterior and anterior body walls and the spinolaminar line on the full-resolution film."""

    name = NAME

    def __init__(self, settings, app_dir: str, peers: dict | None = None):
        super().__init__(settings, app_dir, peers)
        self._lock = threading.Lock()
        self._cached: tuple | None = None  # (device, weight file mtime, network)

    def load_network(self, device: str = "cpu") -> torch.nn.Module | None:
        """The refiner in eval mode, reloaded when the weight file changes (a published retraining); None without
        weights."""
        try:
            mtime = self.weights.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        with self._lock:
            if self._cached is None or self._cached[:2] != (device, mtime):
                self._cached = (device, mtime, load_refiner(self.weights, device))
            return self._cached[2]

    def train_tasks(self):
        trainer = LandmarksTrainer(
            model_dir=str(self.train_dir),
            network_factory=refiner_network,
            publish_path=str(self.weights),
            card_path=str(self.card),
            card_fields=self.card_fields,
            max_pixels=self.settings.max_image_pixels,
            device=device_name(self.settings),
        )
        return {NAME: trainer}

    def card_fields(self) -> dict:
        return {
            "name": NAME,
            "points": list(POINTS),
            "input_size": [PATCH_SIZE, PATCH_SIZE],
            "intensity": INTENSITY,
            "network": NETWORK_DESCRIPTION,
            "output": "offset of the true line from the patch centre along the body's antero-posterior axis, "
            "in tenths of a body depth, one output per point kind",
            "trained_at": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"),
            **training_provenance(NAME),
        }
