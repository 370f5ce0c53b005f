"""The compression model: weight and card paths, the network factory, and the infer and train tasks it adds."""

from __future__ import annotations

from datetime import datetime, timezone

import torch

from apps.models.base import ServedModel, device_name, training_provenance
from infers.compression import CompressionInfer
from lib.models.cards import read_card
from lib.models.classifier import NETWORK_DESCRIPTION, compression_network
from lib.models.crops import COMPRESSION_INPUT_SIZE
from trainers.compression import CompressionTrainer

NAME = "compression"
INTENSITY = (
    "segment crop (lib.models.crops.segment_crops) of the float32 [0, 1] bone-bright radiograph, "
    "standardised per crop to zero mean and unit standard deviation"
)
DEFAULT_THRESHOLD = 0.5


class CompressionModel(ServedModel):
    """Per-segment cord compression: an infer task (which runs the levels task first) and its trainer."""

    name = NAME

    def __init__(self, settings, app_dir: str, levels_task=None, peers: dict | None = None):
        super().__init__(settings, app_dir, peers)
        self.network_path = self.weights
        # The levels task this model's crops come from: the app's own, shared (or a stand-in given by a test).
        levels_task = levels_task or self.peer("levels").infer
        self.infer = CompressionInfer(
            path=str(self.network_path),
            network=compression_network(),
            levels_task=levels_task,
            card=lambda: read_card(self.card),
            max_pixels=settings.max_image_pixels,
            preload=settings.preload and self.network_path.exists(),
        )
        self.infer._config["device"] = device_name(settings)

    def load_network(self, device: str = "cpu") -> torch.nn.Module | None:
        """The served network in eval mode, cached per device and reloaded when the weight file changes
        (MONAI Label's own cache of the infer task); None while there are no weights."""
        if not self.network_path.is_file():
            return None
        return self.infer._get_network(device, None)

    def threshold(self) -> float:
        """The operating threshold from the model card (chosen on validation); 0.5 without a card."""
        return float(read_card(self.card).get("threshold", DEFAULT_THRESHOLD))

    def infer_tasks(self):
        return {NAME: self.infer}

    def train_tasks(self):
        trainer = CompressionTrainer(
            model_dir=str(self.train_dir),
            network_factory=compression_network,
            publish_path=str(self.network_path),
            card_path=str(self.card),
            card_fields=self.card_fields,
            max_pixels=self.settings.max_image_pixels,
            kang_threshold=self.settings.kang_threshold,
            device=device_name(self.settings),
        )
        return {NAME: trainer}

    def card_fields(self) -> dict:
        return {
            "name": NAME,
            "input_size": list(COMPRESSION_INPUT_SIZE),
            "intensity": INTENSITY,
            "network": NETWORK_DESCRIPTION,
            "kang_threshold": self.settings.kang_threshold,
            "trained_at": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"),
            **training_provenance(NAME),
        }
