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

from lib.anatomy.levels import multilabel_dice
from lib.core.errors import AppError
from lib.io.labels import read_label_map
from lib.models.transforms import LEVELS_INPUT_SIZE, Letterboxd, LoadRadiographd
from lib.models.uncertainty import mc_dropout_entropy

logger = logging.getLogger(__name__)


class LevelsUncertaintyScoring(ScoringMethod):
    """Mean MC-dropout entropy of the levels network on each image that has no final label."""

    def __init__(self, infer_task, samples: int = 5, limit: int = 200):
        super().__init__("Levels model uncertainty (MC dropout entropy) for images without a final label")
        self.infer_task, self.samples, self.limit = infer_task, samples, limit

    def __call__(self, request, datastore):
        if not self.infer_task.is_valid():
            return {"scored": 0, "reason": "levels model has no weights yet"}
        network = self.infer_task._get_network("cpu", None)
        load = [LoadRadiographd(("image",), self.infer_task.max_pixels), Letterboxd(("image",), LEVELS_INPUT_SIZE)]
        scored, skipped = {}, {}
        for image_id in datastore.get_unlabeled_images(DefaultLabelTag.FINAL)[: self.limit]:
            try:
                data = {"image": datastore.get_image_uri(image_id)}
                for transform in load:
                    data = transform(data)
            except AppError as exc:
                skipped[image_id] = str(exc)
                continue
            scored[image_id] = mc_dropout_entropy(network, torch.as_tensor(data["image"]), self.samples)
            datastore.update_image_info(image_id, {"levels_uncertainty": scored[image_id]})
        network.eval()
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
