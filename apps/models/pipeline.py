"""The pipeline model: what clients call. It owns no weights; it joins the levels, landmark and compression models.

It takes the app's levels, landmark refiner and compression models (building them when ``--conf models pipeline``
alone is served)
and uses their weight files and cards; a retrained model is picked up on the next request. When no compression
model is registered, the pipeline still answers with levels and measurements and says compression was not assessed.
"""

from __future__ import annotations

import logging

from apps.models.base import ServedModel, device_name
from infers.pipeline import PipelineInfer

logger = logging.getLogger(__name__)

NAME = "pipeline"


class PipelineModel(ServedModel):
    """Levels -> measurements -> per-segment compression with Grad-CAM, as one SEGMENTATION infer task."""

    name = NAME

    def __init__(self, settings, app_dir: str, peers: dict | None = None):
        super().__init__(settings, app_dir, peers)
        self.levels = self.peer("levels")
        self.compression = self.peer("compression")
        self.landmarks = self.peer("landmarks")
        if self.compression is None:
            logger.warning("no compression model is registered: the pipeline reports levels and measurements only")
        cards = {"levels": self.levels.card, "landmarks": self.landmarks.card}
        if self.compression is not None:
            cards["compression"] = self.compression.card
        self.infer = PipelineInfer(
            levels=self.levels.infer,
            compression=self.compression,
            landmarks=self.landmarks,
            cards=cards,
            max_pixels=settings.max_image_pixels,
            device=device_name(settings),
        )

    def infer_tasks(self):
        return {NAME: self.infer}
