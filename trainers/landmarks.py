"""Landmark refiner train task: reference landmarks from the final level labels, a plain loop, publish only if better.

Every image with a final level label gives up to three points per vertebra (``lib.models.patches.POINTS``); their
reference positions are ``lib.anatomy.landmarks.estimate_landmarks`` on the final label, the same fit the pipeline
makes on a predicted mask, so corrected masks sent back from Slicer are what the refiner learns. The datastore's
``split`` decides train and validation (test splits are never read); selection patients choose the best epoch and
publish-check patients decide: the candidate replaces the served weights only if its error on their fixed
displacements is lower by ``PUBLISH_MARGIN_DEPTHS`` (``lib.models.cards.publish_if_better``).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from lib.anatomy.landmarks import estimate_landmarks
from lib.core.atomic import write_json_atomic
from lib.core.errors import BadInputError
from lib.models.cards import PublishDecision, publish_if_better
from lib.models.refiner import (
    NETWORK_DESCRIPTION,
    PointSet,
    build_point_set,
    load_refiner,
    train_epoch,
    validation_error,
)
from lib.models.splits import partition
from trainers.base import COMMON_DEFAULTS, PlainTrainTask, final_label_items, read_final_labels, split_validation

logger = logging.getLogger(__name__)

DEFAULTS = {**COMMON_DEFAULTS, "max_epochs": 25, "train_batch_size": 64, "seed": 0}
# A candidate replaces the served refiner only when its publish-check error (body depths) is lower by more than
# this: about 4% of the shipped refiner's error.
PUBLISH_MARGIN_DEPTHS = 0.0002


def _cases(items: list[dict], max_pixels: int):
    for item, image, mask in read_final_labels(items, max_pixels, "landmark points"):
        if mask.shape != image.pixels.shape:
            logger.warning(
                "%s: label %s does not match the image %s; skipped", item["label"], mask.shape, image.pixels.shape
            )
            continue
        yield image.pixels, estimate_landmarks(mask, image.spacing_mm)


class LandmarksTrainer(PlainTrainTask):
    """The landmark refiner: Smooth-L1 on the offset, AdamW, cosine learning rate, selection-error model choice."""

    def __init__(
        self,
        model_dir,
        network_factory,
        publish_path,
        card_path,
        card_fields,
        max_pixels: int,
        config: dict | None = None,
        device: str = "cpu",
    ):
        super().__init__(
            "Train the landmark refiner (walls and spinolaminar line at film resolution)",
            DEFAULTS,
            model_dir,
            network_factory,
            publish_path,
            card_path,
            card_fields,
            max_pixels,
            config,
            device,
        )

    def __call__(self, request, datastore):
        options = self.options(request)
        return self.fit(options, *self.load_data(options, datastore))

    def load_data(self, options: dict, datastore) -> tuple[PointSet, PointSet, PointSet]:
        """Point sets (train, selection, publish check); ``check_note`` says whether the check could be held out."""
        train, validation = partition(final_label_items(datastore), float(options["val_split"]))
        if not train:
            raise BadInputError("no training images: none has a final level label in a train split")
        selection, check, self.check_note = split_validation(validation, bool)
        sets = [build_point_set(_cases(items, self._max_pixels)) for items in (train, selection, check)]
        logger.info("landmark data: train %s, selection %s, publish check %s", *(s.counts() for s in sets))
        return sets[0], sets[1], sets[2]

    def fit(self, options: dict, train: PointSet, selection: PointSet, check: PointSet) -> dict:
        """Train, keep the lowest selection-error epoch, publish if better on the publish check; returns stats."""
        started = time.time()
        options = self.options(options)
        if len(train) == 0:
            raise BadInputError("no training points: no final label has a vertebra with four corners")
        seed = int(options["seed"])
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        network = self._network_factory().to(self._device)
        epochs, batch = int(options["max_epochs"]), int(options["train_batch_size"])
        optimizer, scheduler = self.optimiser(network, options, epochs * math.ceil(len(train) / batch))
        self.model_dir.mkdir(parents=True, exist_ok=True)
        candidate = self.model_dir / "candidate.pt"
        history, best = [], None
        for epoch in range(1, epochs + 1):
            t0 = time.time()
            loss = train_epoch(network, optimizer, scheduler, train, batch, rng, self._device)
            error = validation_error(network, selection, seed, self._device) if len(selection) else None
            history.append(
                {
                    "epoch": epoch,
                    "loss": round(loss, 5),
                    "val_error_depths": None if error is None else round(error, 5),
                    "seconds": round(time.time() - t0, 1),
                }
            )
            logger.info("landmarks epoch %d/%d: loss %.4f, selection error %s body depths", epoch, epochs, loss, error)
            if error is not None and (best is None or error < best["val_error_depths"]):
                best = history[-1]
                torch.save({"model": network.state_dict()}, candidate)
        stats = {
            "history": history,
            "best_metric": None if best is None else best["val_error_depths"],
            "best_metric_epoch": None if best is None else best["epoch"],
            "total_time": round(time.time() - started, 1),
            "train": train.counts(),
            "selection": selection.counts(),
            "publish_check": check.counts(),
            "publish_check_note": getattr(self, "check_note", ""),
        }
        self._publish(options, candidate, check, stats, started, seed)
        write_json_atomic(stats, self.model_dir / "stats.json")
        return stats

    def _score(self, weights_path, validation: PointSet, seed: int) -> float:
        """Minus the validation error of a weight file: ``publish_if_better`` keeps the higher score."""
        return -validation_error(load_refiner(weights_path, self._device), validation, seed, self._device)

    def _publish(self, options, candidate: Path, check: PointSet, stats: dict, started: float, seed: int):
        if len(check) == 0 or stats["best_metric"] is None:
            logger.warning("no validation points: the new refiner stays in %s unpublished", candidate)
            stats["publish"] = PublishDecision(False, None, None, "no validation points").as_dict()
            return
        candidate_score = self._score(candidate, check, seed)
        card_fields = {
            **self._card_fields(),
            "network": NETWORK_DESCRIPTION,
            "validation": {
                "mean_abs_offset_error_depths": round(-candidate_score, 5),
                **check.counts(),
                "set": stats["publish_check_note"],
            },
            "selection": {"mean_abs_offset_error_depths": stats["best_metric"], **stats["selection"]},
            "training": {
                "epochs": int(options["max_epochs"]),
                "best_epoch": stats["best_metric_epoch"],
                "seed": seed,
                "batch_size": int(options["train_batch_size"]),
                "learning_rate": float(options["learning_rate"]),
                **stats["train"],
                "seconds": round(time.time() - started, 1),
                "device": self._device,
            },
        }
        self.last_decision = publish_if_better(
            candidate,
            self._served_path,
            self._card_path,
            score=lambda path: candidate_score if path == str(candidate) else self._score(path, check, seed),
            card_fields=card_fields,
            margin=PUBLISH_MARGIN_DEPTHS,
        )
        stats["publish"] = self.last_decision.as_dict()
