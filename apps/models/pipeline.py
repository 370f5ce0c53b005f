"""The pipeline model: what clients call. It owns no weights; it joins the levels, landmark and compression models.

It takes the app's levels, landmark refiner and compression models (building them when ``--conf models pipeline``
alone is served) and borrows their networks from their pools, so a retrained model is served on the next request.
When no compression model is registered, the pipeline still answers with levels and measurements and says
compression was not assessed.
"""

from __future__ import annotations

import logging

from apps.models.base import ServedModel
from infers.pipeline import PipelineInfer

logger = logging.getLogger(__name__)

NAME = "pipeline"


class PipelineModel(ServedModel):
    """Levels -> measurements -> per-segment compression with Grad-CAM, as one SEGMENTATION infer task."""

    name = NAME

    def __init__(self, settings, app_dir: str, peers: dict | None = None):
        super().__init__(settings, app_dir, peers)
        levels, compression, landmarks = self.peer("levels"), self.peer("compression"), self.peer("landmarks")
        if compression is None:
            logger.warning("no compression model is registered: the pipeline reports levels and measurements only")
        self.infer_task = PipelineInfer(
            levels=levels.infer_task,
            compression=compression.pool if compression else None,
            landmarks=landmarks.pool if landmarks else None,
            max_pixels=settings.max_image_pixels,
            device=self.device,
        )

    def infer(self):
        return {NAME: self.infer_task}
