"""Compression train task: segment crops from the final level labels, a plain PyTorch loop, publish only if better.

Every image with a final level label and per-segment reference labels (image info ``segments``) gives up to five
crops, cut by the same ``lib.models.crops.segment_crops`` the pipeline uses; the datastore's ``split`` decides
train and validation (test splits are never read), and the validation patients are split again: selection
patients choose the best epoch (AUC) and the operating threshold, publish-check patients decide whether the
candidate replaces the served model (its AUC there must be higher by ``PUBLISH_MARGIN_AUC``). All crops are cut
once into memory (float16, with extra context for the localisation-error augmentation), so an epoch costs only
the network; an interrupted or worse run never changes what is served.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from lib.core.atomic import write_json_atomic
from lib.core.errors import BadInputError
from lib.evaluation.stats import auc, binary_metrics, select_threshold
from lib.models import distributed
from lib.models.cards import PublishDecision, publish_if_better
from lib.models.classifier import NETWORK_DESCRIPTION, predict_widened, train_epoch
from lib.models.crops import COMPRESSION_INPUT_SIZE, CropSet, build_crop_set, segment_targets
from lib.models.splits import partition
from lib.models.weights import load_weights
from trainers.base import COMMON_DEFAULTS, PlainTrainTask, final_label_items, read_final_labels, split_validation

logger = logging.getLogger(__name__)

DEFAULTS = {
    **COMMON_DEFAULTS,
    "max_epochs": 12,
    "train_batch_size": 32,
    "threshold_method": "youden",
    "seed": 0,
    "context": 1.25,
    "augmentation": "standard",
}
# Crop augmentation by name ("standard": the shipped model's shift, rotation, scale, gamma and noise); "film" adds
# polarity inversion, blur or edge enhancement, wider gamma and more noise (lib.models.classifier.augment_batch).
CROP_AUGMENTATIONS = {
    "standard": {},
    "film": {"gamma": 0.5, "noise": 0.1, "invert": 0.1, "sharpness": 1.5},
}
# A candidate replaces the served classifier only when its publish-check AUC is higher by more than this.
PUBLISH_MARGIN_AUC = 0.002


def labelled_items(datastore) -> list[dict]:
    """``final_label_items`` of the images that also carry per-segment reference labels (``segments`` info)."""
    return [item for item in final_label_items(datastore) if item["info"].get("segments")]


def _both_classes(items: list[dict], kang_threshold: int) -> bool:
    """Whether the items' reference labels hold positive and negative segments (an AUC needs both)."""
    values = {v for item in items for v in segment_targets(item["info"], kang_threshold).values() if v is not None}
    return values == {0, 1}


def _cases(items: list[dict], max_pixels: int):
    for item, image, mask in read_final_labels(items, max_pixels, "compression crops"):
        yield image.pixels, mask, image.spacing_mm, item["info"]


def _threshold_method(text: str) -> dict:
    """``"youden"`` or ``"sensitivity:0.9"`` -> keyword arguments of ``select_threshold``."""
    if str(text).startswith("sensitivity:"):
        try:
            return {"method": "sensitivity", "target_sensitivity": float(str(text).split(":", 1)[1])}
        except ValueError:
            raise BadInputError(
                f"threshold_method {text!r}: the target after 'sensitivity:' must be a number"
            ) from None
    if text != "youden":
        raise BadInputError(f"threshold_method {text!r} not allowed; use 'youden' or 'sensitivity:<0-1>'")
    return {"method": "youden"}


class CompressionTrainer(PlainTrainTask):
    """Per-segment compression classifier: BCE, AdamW, cosine learning rate, validation AUC model selection."""

    def __init__(
        self,
        model_dir,
        network_factory,
        publish_path,
        card_path,
        card_fields,
        max_pixels: int,
        kang_threshold: int = 2,
        config: dict | None = None,
        device: str = "cpu",
    ):
        super().__init__(
            "Train the per-segment cord compression classifier from segment labels",
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
        self._kang_threshold = kang_threshold

    def __call__(self, request, datastore):
        options = self._options(request)
        # Under torchrun every process runs this, joins the group torchrun describes and trains on its shard.
        launch = distributed.torchrun_launch()
        device = distributed.device_for(launch, self._device)
        ours = distributed.init_from_env(launch, device) if launch else False
        try:
            return self.fit(options, *self.load_data(options, datastore))
        finally:
            if ours:
                torch.distributed.destroy_process_group()

    def _options(self, request: dict) -> dict:
        options = self.options(request)
        _threshold_method(options["threshold_method"])  # refuse a bad method before minutes of loading
        if options["augmentation"] not in CROP_AUGMENTATIONS:
            raise BadInputError(
                f"augmentation must be one of {list(CROP_AUGMENTATIONS)}, got {options['augmentation']!r}"
            )
        return options

    def load_data(self, options: dict, datastore) -> tuple[CropSet, CropSet, CropSet]:
        """Crop sets (train, selection, publish check) of the datastore's labelled images; ``check_note`` says
        whether the publish check could be held out."""
        train, validation = partition(labelled_items(datastore), float(options["val_split"]))
        if not train:
            raise BadInputError(
                "no training images: none has both a final level label and 'segments' info in a train split"
            )
        selection, check, self.check_note = split_validation(
            validation, lambda items: _both_classes(items, self._kang_threshold)
        )
        sets = [
            build_crop_set(_cases(items, self._max_pixels), float(options["context"]), self._kang_threshold)
            for items in (train, selection, check)
        ]
        logger.info(
            "compression data: train %s, selection %s, publish check %s",
            *(crop_set.counts() for crop_set in sets),
        )
        return sets[0], sets[1], sets[2]

    def fit(self, options: dict, train: CropSet, selection: CropSet, check: CropSet) -> dict:
        """Train, keep the best selection-AUC epoch, choose the threshold on the selection crops and publish if
        better on the publish-check crops; returns stats."""
        started = time.time()
        options = self._options(options)
        torch.manual_seed(int(options["seed"]))  # the same initial weights on every rank (DDP broadcasts rank 0's)
        rank, world = distributed.rank(), distributed.world_size()
        generator = torch.Generator().manual_seed(int(options["seed"]) + rank)  # each rank its own augmentations
        device = str(torch.device(self._device).type)
        if distributed.active() and device == "cuda":
            device = f"cuda:{torch.cuda.current_device()}"
        network = self._network_factory().to(device)
        model = network
        if distributed.active():
            # Gradients averaged over the ranks each step; ``network`` stays the plain module for scoring and saving.
            model = torch.nn.parallel.DistributedDataParallel(
                network, device_ids=None if device == "cpu" else [torch.device(device)]
            )
        # Each rank a disjoint shard of the training crops, reshuffled every epoch (padded to equal length, so every
        # rank takes the same number of steps, which DDP's all-reduce needs).
        sampler = torch.utils.data.DistributedSampler(
            range(len(train)), num_replicas=world, rank=rank, shuffle=True, seed=int(options["seed"])
        )
        epochs, batch = int(options["max_epochs"]), int(options["train_batch_size"])
        optimizer, scheduler = self.optimiser(network, options, epochs * math.ceil(len(sampler) / batch))
        positives = max(int(train.targets.sum()), 1)
        pos_weight = (len(train) - positives) / positives
        self.model_dir.mkdir(parents=True, exist_ok=True)
        candidate = self.model_dir / "candidate.pt"
        history, best = [], None
        for epoch in range(1, epochs + 1):
            t0 = time.time()
            crops, targets = train.crops, train.targets
            if world > 1:  # alone, the whole set as it is (no copy); train_epoch shuffles it
                sampler.set_epoch(epoch)
                shard = np.sort(np.fromiter(iter(sampler), dtype=np.int64))
                crops, targets = crops[shard], targets[shard]
            loss = train_epoch(
                model,
                optimizer,
                scheduler,
                crops,
                targets,
                train.context,
                batch,
                generator,
                pos_weight,
                device,
                CROP_AUGMENTATIONS[options["augmentation"]],
            )
            distributed.broadcast_buffers(network)  # rank 0's batch-norm statistics, so all ranks score alike
            val_auc = self._auc(network, selection)  # equal weights on every rank: the same best epoch everywhere
            seconds = round(time.time() - t0, 1)
            history.append({"epoch": epoch, "loss": round(loss, 5), "val_auc": val_auc, "seconds": seconds})
            logger.info(
                "compression epoch %d/%d: loss %.4f, selection AUC %s, %.1f s", epoch, epochs, loss, val_auc, seconds
            )
            if best is None or (val_auc or 0.0) > (best["val_auc"] or 0.0):
                best = history[-1]
                if distributed.is_rank_zero():
                    torch.save({"model": network.state_dict()}, candidate)
        self.trained_network = network  # the trained weights of this rank (equal on every rank)
        stats = {
            "history": history,
            "best_metric": best["val_auc"],
            "best_metric_epoch": best["epoch"],
            "total_time": round(time.time() - started, 1),
            "train": train.counts(),
            "selection": selection.counts(),
            "publish_check": check.counts(),
            "publish_check_note": getattr(self, "check_note", ""),
        }
        if distributed.is_rank_zero():
            self._publish(options, candidate, selection, check, stats, started)
            write_json_atomic(stats, self.model_dir / "stats.json")
        else:
            stats["publish"] = {"published": False, "reason": f"rank {rank} of {world}: rank 0 publishes"}
        distributed.barrier()  # no rank ends before rank 0 has published
        return stats

    def _auc(self, network, crops: CropSet) -> float | None:
        if not _two_classes(crops):
            return None
        probabilities = predict_widened(network, crops.crops, crops.context, device=self._device)
        return auc(crops.targets, probabilities).get("value")

    def _probabilities(self, weights_path, crops: CropSet) -> np.ndarray:
        network = load_weights(self._network_factory().to(self._device), weights_path, self._device)
        return predict_widened(network, crops.crops, crops.context, device=self._device)

    def _score(self, weights_path, crops: CropSet) -> float:
        """Validation AUC of a weight file (the publish criterion)."""
        value = auc(crops.targets, self._probabilities(weights_path, crops)).get("value")
        return float(value) if value is not None else 0.0

    def _publish(
        self, options: dict, candidate: Path, selection: CropSet, check: CropSet, stats: dict, started: float
    ) -> None:
        """Threshold on the selection crops; figures and the publish decision on the publish-check crops."""
        if not (_two_classes(selection) and _two_classes(check)):
            logger.warning("validation needs positive and negative segments: the new model stays in %s", candidate)
            stats["publish"] = PublishDecision(False, None, None, "no validation segments of both classes").as_dict()
            return
        method = _threshold_method(options["threshold_method"])
        operating = select_threshold(selection.targets, self._probabilities(candidate, selection), **method)
        probabilities = self._probabilities(candidate, check)
        candidate_auc = auc(check.targets, probabilities).get("value")
        calls = (probabilities >= operating["threshold"]).astype(int)
        figures = {
            k: v["value"]
            for k, v in binary_metrics(check.targets, calls).items()
            if k in ("accuracy", "sensitivity", "specificity", "f1")
        }
        card_fields = {
            **self._card_fields(),
            "threshold": operating["threshold"],
            "threshold_method": options["threshold_method"],
            "threshold_description": operating["description"] + " (selection patients)",
            "validation": {
                "auc": candidate_auc,
                **figures,
                **check.counts(),
                "set": stats["publish_check_note"],
            },
            "selection": {"auc": stats["best_metric"], **selection.counts()},
            "input_size": list(COMPRESSION_INPUT_SIZE),
            "network": NETWORK_DESCRIPTION,
            "training": {
                "epochs": int(options["max_epochs"]),
                "best_epoch": stats["best_metric_epoch"],
                "seed": int(options["seed"]),
                "batch_size": int(options["train_batch_size"]),
                "learning_rate": float(options["learning_rate"]),
                "augmentation": options["augmentation"],
                **stats["train"],
                "seconds": round(time.time() - started, 1),
                "device": self._device,
            },
        }
        self.last_decision = publish_if_better(
            candidate,
            self._served_path,
            self._card_path,
            score=lambda path: float(candidate_auc) if path == str(candidate) else self._score(path, check),
            card_fields=card_fields,
            margin=PUBLISH_MARGIN_AUC,
        )
        stats["publish"] = self.last_decision.as_dict()
        stats["threshold"] = operating


def _two_classes(crops: CropSet) -> bool:
    return len(crops) > 0 and crops.targets.min() != crops.targets.max()
