"""The compression model: network, weights, and the infer and train tasks it adds."""

from __future__ import annotations

from datetime import datetime, timezone

from apps.models.base import ServedModel, training_provenance
from infers.compression import CompressionInfer
from lib.models.classifier import NETWORK_DESCRIPTION, compression_network
from lib.models.crops import COMPRESSION_INPUT_SIZE
from trainers.compression import CompressionTrainer

NAME = "compression"
INTENSITY = (
    "segment crop (lib.models.crops.segment_crops) of the float32 [0, 1] bone-bright radiograph, "
    "standardised per crop to zero mean and unit standard deviation"
)


class CompressionModel(ServedModel):
    """Per-segment cord compression: an infer task (which runs the levels task first) and its trainer."""

    name = NAME
    network_factory = staticmethod(compression_network)

    def __init__(self, settings, app_dir: str, levels_task=None, peers: dict | None = None):
        super().__init__(settings, app_dir, peers)
        # The levels task this model's crops come from: the app's own, shared (or a stand-in given by a test).
        levels_task = levels_task or self.peer("levels").infer_task
        self.infer_task = CompressionInfer(
            self.pool, levels_task, max_pixels=settings.max_image_pixels, config={"device": self.device}
        )

    def infer(self):
        return {NAME: self.infer_task}

    def trainer(self):
        return CompressionTrainer(
            model_dir=str(self.train_dir),
            network_factory=compression_network,
            publish_path=str(self.weights),
            card_path=str(self.card),
            card_fields=self.card_fields,
            max_pixels=self.settings.max_image_pixels,
            kang_threshold=self.settings.kang_threshold,
            device=self.device,
        )

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
