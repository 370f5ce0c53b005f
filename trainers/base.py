"""What the trainers share: the common defaults, the plain-loop trainers' MONAI Label face, the listing and
reading of the datastore's final labels, and the split of validation patients into selection and publish check.

The compression and landmark trainers train small networks on data cut once into memory, so they run their own
loop instead of MONAI Label's Ignite workflow. Every trainer publishes through ``lib.models.cards.publish_if_better``
on publish-check patients that chose neither the epoch nor the threshold.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from monailabel.interfaces.tasks.train import TrainTask

from lib.io.labels import read_label_map
from lib.io.radiograph import Radiograph
from lib.io.reader import read_radiograph
from lib.models.cards import PublishDecision, read_card
from lib.models.splits import publish_check_split

logger = logging.getLogger(__name__)

# Defaults every trainer starts from (AdamW learning rate, its weight decay, validation share of patients
# without a split); each trainer adds its own epochs and batch size.
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
VAL_SPLIT = 0.1
COMMON_DEFAULTS = {"learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "val_split": VAL_SPLIT}


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

    @staticmethod
    def optimiser(network: torch.nn.Module, options: dict, steps: int) -> tuple:
        """AdamW at the options' learning rate and weight decay, the rate annealed to zero over ``steps`` optimiser
        steps (half a cosine)."""
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=float(options["learning_rate"]), weight_decay=float(options["weight_decay"])
        )
        return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))

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


def split_validation(validation: list[dict], usable: Callable[[list[dict]], bool]) -> tuple[list, list, str]:
    """``(selection, publish check, note)`` of the validation items (``lib.models.splits.publish_check_split``).

    ``usable`` says whether a set of items can score a model (e.g. has segments of both classes). When the
    validation patients are too few to hold some out, both roles fall to the same items and the note says so.
    """
    selection, check = publish_check_split(validation)
    if usable(selection) and usable(check):
        return selection, check, "publish check on validation patients that chose neither the epoch nor the threshold"
    note = "too few validation patients to hold some out: the publish check reuses the selection data"
    logger.warning(note)
    return validation, validation, note
