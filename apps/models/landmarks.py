"""The landmark refiner model: network, weights and its train task.

It has no infer task of its own: the pipeline borrows its network from ``pool`` between the level mask and the
measurements. Without weights the pipeline measures on the mask-derived landmarks and says so.
"""

from __future__ import annotations

from datetime import datetime, timezone

from apps.models.base import ServedModel, training_provenance
from lib.models.patches import PATCH_SIZE, PATCH_SPAN, POINTS
from lib.models.refiner import NETWORK_DESCRIPTION, refiner_network
from trainers.landmarks import LandmarksTrainer

NAME = "landmarks"
INTENSITY = (
    f"{PATCH_SIZE}x{PATCH_SIZE} patch of the float32 [0, 1] bone-bright radiograph in the vertebra's frame "
    f"({PATCH_SPAN} body depths a side, lib.models.patches.sample_patch), standardised per patch"
)


class LandmarksModel(ServedModel):
    """Refines the posterior and anterior body walls and the spinolaminar line on the full-resolution film."""

    name = NAME
    network_factory = staticmethod(refiner_network)

    def trainer(self):
        return LandmarksTrainer(
            model_dir=str(self.train_dir),
            network_factory=refiner_network,
            publish_path=str(self.weights),
            card_path=str(self.card),
            card_fields=self.card_fields,
            max_pixels=self.settings.max_image_pixels,
            device=self.device,
        )

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
