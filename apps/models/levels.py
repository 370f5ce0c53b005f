"""The levels model: labels, network, weights, and the tasks it adds to the app."""

from __future__ import annotations

from datetime import datetime, timezone

from apps.models.base import ServedModel, training_provenance
from apps.models.scoring import LevelsDiceScoring, LevelsTTAScoring, LevelsUncertaintyScoring
from infers.levels import LevelsInfer
from lib.anatomy.names import LEVEL_LABELS
from lib.models.cards import INTENSITY_CONVENTION
from lib.models.networks import LEVELS_CHANNELS, levels_network
from lib.models.transforms import LEVELS_INPUT_SIZE
from trainers.levels import LevelsTrainer

NAME = "levels"


class LevelsModel(ServedModel):
    """C2-C7 bodies + spinal canal: infer task, trainer, uncertainty strategies and Dice scoring."""

    name = NAME
    network_factory = staticmethod(levels_network)

    def __init__(self, settings, app_dir: str, peers: dict | None = None):
        super().__init__(settings, app_dir, peers)
        self.infer_task = LevelsInfer(self.pool, max_pixels=settings.max_image_pixels, config={"device": self.device})

    def infer(self):
        return {NAME: self.infer_task}

    def trainer(self):
        return LevelsTrainer(
            model_dir=str(self.train_dir),
            network_factory=levels_network,
            publish_path=str(self.weights),
            card_path=str(self.card),
            card_fields=self.card_fields,  # called at publish time (timestamp, command)
            max_pixels=self.settings.max_image_pixels,
            config={
                "device": self.device,
                "pretrained": self.settings.use_pretrained,
                "multi_gpu": False,
                "tracking": "mlflow" if self.settings.tracking else "None",
            },
            amp=self.device == "cuda",
            tracking="mlflow" if self.settings.tracking else None,
        )

    def strategy(self):
        from monailabel.tasks.activelearning.epistemic import Epistemic

        return {
            "levels_uncertainty": Epistemic(
                key="levels_uncertainty", desc="Least certain image for the levels model (MC dropout)"
            ),
            "levels_tta": Epistemic(
                key="levels_tta", desc="Image whose levels change most under flip and zoom (per-level disagreement)"
            ),
        }

    def scoring_method(self):
        return {
            "levels_uncertainty": LevelsUncertaintyScoring(
                self.pool, self.settings.max_image_pixels, samples=self.settings.epistemic_samples
            ),
            "levels_tta": LevelsTTAScoring(self.pool, self.settings.max_image_pixels),
            "levels_dice": LevelsDiceScoring(),
        }

    def card_fields(self) -> dict:
        return {
            "name": NAME,
            "labels": dict(LEVEL_LABELS),
            "input_size": list(LEVELS_INPUT_SIZE),
            "intensity": INTENSITY_CONVENTION,
            "network": f"monai UNet 2D, channels {list(LEVELS_CHANNELS)}, strides 2, 1 residual unit, dropout 0.1",
            "trained_at": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"),
            **training_provenance(NAME),
        }
