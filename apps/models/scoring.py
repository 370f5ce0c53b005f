"""Scoring methods for the levels model's active-learning loop.

- ``levels_uncertainty``: MC-dropout entropy of every image without a final label, stored in its info as
  ``levels_uncertainty`` (the ``levels_uncertainty`` strategy serves the highest first).
- ``levels_tta``: per-level disagreement between the film and its flipped and zoomed views, stored as
  ``levels_tta`` (the ``levels_tta`` strategy serves the highest first), the levels' own under
  ``levels_tta_per_level``. Both are cached per model version: only films not yet scored by the served model
  are scored.
- ``levels_dice``: per-level Dice of the model's original label against the annotator's final one, stored in
  the image info as ``levels_dice`` (MONAI Label's built-in dice scoring is binary and wrong for level maps).
"""

from __future__ import annotations

import logging
import time

import torch
from monailabel.interfaces.datastore import DefaultLabelTag
from monailabel.interfaces.tasks.scoring import ScoringMethod

from infers.levels import LevelsInfer
from lib.anatomy.levels import multilabel_dice
from lib.anatomy.names import LEVEL_LABELS
from lib.core.errors import AppError
from lib.io.labels import read_label_map
from lib.models.transforms import LoadRadiographd
from lib.models.tta import tta_disagreement
from lib.models.uncertainty import mc_dropout_entropy
from lib.models.weights import NetworkPool

logger = logging.getLogger(__name__)


class UnlabelledScoring(ScoringMethod):
    """Scores each image without a final label with the served levels network and stores the score in its info.

    Incremental: an image whose info already holds a score of the model version served now (``<key>_version``) is
    not scored again, so a large pool is scored once per published model, ``limit`` images a call. The network is
    borrowed from the levels model's pool for the whole run, so switching its dropout layers on never touches a
    network a concurrent inference is using. The answer reports the seconds per film scored (the strategy's cost).
    """

    key = ""

    def __init__(self, description: str, pool: NetworkPool, max_pixels: int, limit: int = 200):
        super().__init__(description)
        self.pool, self.max_pixels, self.limit = pool, max_pixels, limit

    def score(self, network: torch.nn.Module, image: torch.Tensor) -> tuple[float, dict]:
        """``(score, extra info)`` of one image in the network's input geometry."""
        raise NotImplementedError

    def __call__(self, request, datastore):
        load = [LoadRadiographd(("image",), self.max_pixels), *LevelsInfer.input_transforms()]
        scored, skipped, cached = {}, {}, 0
        started = time.perf_counter()
        with self.pool.borrow("cpu") as served:
            if served is None:
                return {"scored": 0, "reason": "levels model has no weights yet"}
            to_score = []
            for image_id in datastore.get_unlabeled_images(DefaultLabelTag.FINAL):
                if (datastore.get_image_info(image_id) or {}).get(f"{self.key}_version") == served.version:
                    cached += 1
                else:
                    to_score.append(image_id)
            for image_id in to_score[: self.limit]:
                try:
                    data = {"image": datastore.get_image_uri(image_id)}
                    for transform in load:
                        data = transform(data)
                except AppError as exc:
                    skipped[image_id] = str(exc)
                    continue
                scored[image_id], extra = self.score(served.network, torch.as_tensor(data["image"]))
                info = {self.key: scored[image_id], f"{self.key}_version": served.version, **extra}
                datastore.update_image_info(image_id, info)
        seconds = time.perf_counter() - started
        return {
            "scored": len(scored),
            "cached": cached,
            "left": max(0, len(to_score) - self.limit),
            "model_version": served.version,
            "seconds": round(seconds, 3),
            "seconds_per_film": round(seconds / len(scored), 4) if scored else None,
            "skipped": skipped,
            "scores": scored,
        }


class LevelsUncertaintyScoring(UnlabelledScoring):
    """Mean MC-dropout entropy of the levels network on each image that has no final label."""

    key = "levels_uncertainty"

    def __init__(self, pool: NetworkPool, max_pixels: int, samples: int = 5, limit: int = 200):
        super().__init__(
            "Levels model uncertainty (MC dropout entropy) for images without a final label", pool, max_pixels, limit
        )
        self.samples = samples

    def score(self, network, image):
        return mc_dropout_entropy(network, image, self.samples), {}


class LevelsTTAScoring(UnlabelledScoring):
    """Per-level disagreement of the levels network between a film and its flipped and zoomed views."""

    key = "levels_tta"

    def __init__(self, pool: NetworkPool, max_pixels: int, limit: int = 200):
        super().__init__(
            "Levels model per-level disagreement under flip and zoom for images without a final label",
            pool,
            max_pixels,
            limit,
        )

    def score(self, network, image):
        score, per_class = tta_disagreement(network, image)
        names = {value: name for name, value in LEVEL_LABELS.items()}
        return score, {"levels_tta_per_level": {names[v]: round(d, 4) for v, d in sorted(per_class.items())}}


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
