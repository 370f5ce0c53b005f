"""The pipeline model: what clients call. It owns no weights; it joins the levels and compression models.

It builds its own levels and compression models from the registry (so ``--conf models pipeline`` alone works)
and uses their weight files and cards; a retrained model is picked up on the next request. When no compression
model is registered, the pipeline still answers with levels and measurements and says compression was not assessed.
"""

from __future__ import annotations

import logging

from apps.levels import device_name
from apps.served_model import ServedModel
from infers.pipeline import PipelineInfer

logger = logging.getLogger(__name__)

NAME = "pipeline"


class PipelineModel(ServedModel):
    """Levels -> measurements -> per-segment compression with Grad-CAM, as one SEGMENTATION infer task."""

    name = NAME

    def __init__(self, settings, app_dir: str):
        super().__init__(settings, app_dir)
        from apps.registry import MODEL_REGISTRY  # the registry imports this module

        self.levels = MODEL_REGISTRY["levels"](settings, app_dir)
        factory = MODEL_REGISTRY.get("compression")
        self.compression = factory(settings, app_dir) if factory else None
        if self.compression is None:
            logger.warning("no compression model is registered: the pipeline reports levels and measurements only")
        cards = {"levels": self.levels.card}
        if self.compression is not None:
            cards["compression"] = self.compression.card
        self.infer = PipelineInfer(
            levels=self.levels.infer, compression=self.compression, cards=cards,
            max_pixels=settings.max_image_pixels, device=device_name(settings),
        )

    def infer_tasks(self):
        return {NAME: self.infer}
