"""What the plain-loop trainers (compression, landmarks) share: their MONAI Label face, the cosine schedule, and
the listing and reading of the datastore's final labels.

Both train small networks on data cut once into memory, so they run their own loop instead of MONAI Label's
Ignite workflow, and both publish through ``lib.models.cards.publish_if_better``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from monailabel.interfaces.tasks.train import TrainTask

from lib.io.labels import read_label_map
from lib.io.radiograph import Radiograph
from lib.io.reader import read_radiograph
from lib.models.cards import PublishDecision, read_card

logger = logging.getLogger(__name__)


class PlainTrainTask(TrainTask):
    """A train task with its options (``defaults`` updated by ``config``), a run folder and the publish target."""

    def __init__(
        self,
        description: str,
        defaults: dict,
        model_dir,
        network_factory,
        publish_path,
        card_path,
        card_fields,
        max_pixels: int,
        config: dict | None = None,
        device: str = "cpu",
    ):
        super().__init__(description)
        self.model_dir = Path(model_dir)
        self._network_factory = network_factory
        self._served_path, self._card_path, self._card_fields = Path(publish_path), Path(card_path), card_fields
        self._max_pixels, self._device = max_pixels, device
        self._config = {**defaults, **(config or {})}
        self.last_decision: PublishDecision | None = None

    def config(self):
        return dict(self._config)

    def stats(self):
        return read_card(self.model_dir / "stats.json")

    def options(self, request: dict | None) -> dict:
        """The defaults overridden by the request's values that are set."""
        return {**self._config, **{k: v for k, v in (request or {}).items() if v is not None}}


def final_label_items(datastore) -> list[dict]:
    """``[{"image", "label", "info", "split", "patient_id"}]`` for every image with a final level label."""
    items = []
    for image_id in datastore.list_images():
        label_id = datastore.get_labels_by_image_id(image_id).get("final")
        if label_id is None:
            continue
        info = datastore.get_image_info(image_id) or {}
        items.append(
            {
                "image": datastore.get_image_uri(image_id),
                "label": datastore.get_label_uri(label_id, "final"),
                "info": info,
                "split": info.get("split"),
                "patient_id": info.get("patient_id", image_id),
            }
        )
    return items


def read_final_labels(items: list[dict], max_pixels: int, what: str) -> Iterator[tuple[dict, Radiograph, np.ndarray]]:
    """``(item, radiograph, uint8 label map)`` per item, read one at a time; progress logged every 50 images."""
    for number, item in enumerate(items, 1):
        image = read_radiograph(item["image"], max_pixels=max_pixels)
        mask = read_label_map(item["label"]).astype(np.uint8)
        if number % 50 == 0:
            logger.info("%s: %d / %d images", what, number, len(items))
        yield item, image, mask


def cosine_schedule(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate from its start value down to zero over ``steps`` optimiser steps (half a cosine)."""
    steps = max(1, steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    )
