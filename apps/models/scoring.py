"""Scoring methods for the levels model's active-learning loop.

- ``levels_uncertainty``: MC-dropout entropy of every image without a final label, stored in its info as
  ``levels_uncertainty`` (the ``levels_uncertainty`` strategy serves the highest first).
- ``levels_dice``: per-level Dice of the model's original label against the annotator's final one, stored in
  the image info as ``levels_dice`` (MONAI Label's built-in dice scoring is binary and wrong for level maps).
"""

from __future__ import annotations

import logging

import torch
from monailabel.interfaces.datastore import DefaultLabelTag
from monailabel.interfaces.tasks.scoring import ScoringMethod

from infers.levels import LevelsInfer
from lib.anatomy.levels import multilabel_dice
from lib.core.errors import AppError
from lib.io.labels import read_label_map
from lib.models.transforms import LoadRadiographd
from lib.models.uncertainty import mc_dropout_entropy
from lib.models.weights import NetworkPool

logger = logging.getLogger(__name__)


class LevelsUncertaintyScoring(ScoringMethod):
    """Mean MC-dropout entropy of the levels network on each image that has no final label.

    The network is borrowed from the levels model's pool for the whole run, so switching its dropout layers on
    never touches a network a concurrent inference is using.
    """

    def __init__(self, pool: NetworkPool, max_pixels: int, samples: int = 5, limit: int = 200):
        super().__init__("Levels model uncertainty (MC dropout entropy) for images without a final label")
        self.pool, self.max_pixels, self.samples, self.limit = pool, max_pixels, samples, limit

    def __call__(self, request, datastore):
        load = [LoadRadiographd(("image",), self.max_pixels), *LevelsInfer.input_transforms()]
        scored, skipped = {}, {}
        with self.pool.borrow("cpu") as served:
            if served is None:
                return {"scored": 0, "reason": "levels model has no weights yet"}
            for image_id in datastore.get_unlabeled_images(DefaultLabelTag.FINAL)[: self.limit]:
                try:
                    data = {"image": datastore.get_image_uri(image_id)}
                    for transform in load:
                        data = transform(data)
                except AppError as exc:
                    skipped[image_id] = str(exc)
                    continue
                image = torch.as_tensor(data["image"])
                scored[image_id] = mc_dropout_entropy(served.network, image, self.samples)
                datastore.update_image_info(image_id, {"levels_uncertainty": scored[image_id]})
        return {"scored": len(scored), "skipped": skipped, "scores": scored}


class LevelsDiceScoring(ScoringMethod):
    """Per-level Dice between each image's original (model) and final (annotator) label."""

    def __init__(self):
        super().__init__("Per-level Dice of original (model) against final (annotator) labels")

    def __call__(self, request, datastore):
        results = {}
        for image_id in datastore.get_labeled_images(DefaultLabelTag.FINAL):
            labels = datastore.get_labels_by_image_id(image_id)
            if DefaultLabelTag.ORIGINAL not in labels:
                continue
            try:
                final = read_label_map(datastore.get_label_uri(image_id, DefaultLabelTag.FINAL))
                original = read_label_map(datastore.get_label_uri(image_id, DefaultLabelTag.ORIGINAL))
            except AppError as exc:
                logger.warning("levels_dice skipped %s: %s", image_id, exc)
                continue
            if final.shape != original.shape:
                continue
            results[image_id] = multilabel_dice(original, final)
            datastore.update_image_info(image_id, {"levels_dice": results[image_id]})
        return {"scored": len(results), "dice": results}
