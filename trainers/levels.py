"""Levels train task: trains on the datastore's final labels and publishes only a better model.

MONAI Label's own publisher copies the run's best checkpoint over the served weights whatever its score and
non-atomically. Here the validation patients are split: selection patients choose the best epoch (MONAI Label's
evaluator), publish-check patients score the new model and the served one, and the new weights replace the old
(one atomic checkpoint with its card) only when their mean Dice there is higher by ``PUBLISH_MARGIN_DICE``.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from datetime import datetime

import ignite.engine
import torch
from monai.data import CacheDataset
from monai.handlers import LrScheduleHandler, MeanDice, from_engine
from monai.inferers import SimpleInferer
from monai.losses import DiceCELoss
from monai.metrics import compute_dice
from monai.metrics.utils import do_metric_reduction
from monai.networks.utils import one_hot
from monai.transforms import (
    Compose,
    EnsureTyped,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandScaleIntensityd,
)
from monai.utils import MetricReduction
from monailabel.tasks.train.basic_train import BasicTrainTask, Context
from monailabel.utils.others.generic import name_to_device

from lib.anatomy.names import LEVEL_LABELS
from lib.core.errors import BadInputError
from lib.io.reader import image_id_of
from lib.models import distributed
from lib.models.augment import RandFieldOfViewCropd, RandSpineCropd, film_augmentations
from lib.models.cards import PublishDecision, publish_if_better
from lib.models.splits import partition
from lib.models.transforms import (
    LEVELS_INPUT_SIZE,
    ArgmaxOneHotd,
    Letterboxd,
    LoadLevelLabeld,
    LoadRadiographd,
    Shrinkd,
)
from lib.models.weights import load_weights
from trainers.base import LEARNING_RATE, VAL_SPLIT, split_validation

logger = logging.getLogger(__name__)
# "standard": the flips, affine and contrast the shipped model was trained with; "film": lib.models.augment.
AUGMENTATIONS = ("standard", "film")
N_CLASSES = len(LEVEL_LABELS) + 1
# Films are cached at twice the network's input before the random field-of-view crop: a crop of 0.6 of the film
# still has more pixels than the letterbox takes from it.
FILM_CACHE_SHAPE = tuple(2 * n for n in LEVELS_INPUT_SIZE)
# A candidate replaces the served levels model only when its publish-check mean Dice is higher by more than this.
PUBLISH_MARGIN_DICE = 0.002
# Processes that augment films beside the training loop (and threads that fill the cache). MONAI Label's loaders
# use none, so the loop waits while one core augments: one worker took a 20-epoch training on 2 cores from 18.5 to
# 12.6 minutes (README, "Levels training time"); a GPU machine wants about its cores (``--workers``).
DEFAULT_LOADER_WORKERS = 1 if (os.cpu_count() or 1) > 1 else 0
# Where a run's weights start (request key ``warm_start``): "last_run" is MONAI Label's own (this run folder's best
# checkpoint, else the served weights when ``pretrained``), "served" the weights annotators see now (what a
# fine-tuning round of the annotation loop wants: a rejected candidate is never built on), "none" random weights.
WARM_STARTS = ("last_run", "served", "none")


class LevelsTrainer(BasicTrainTask):
    """Supervised training of the levels UNet (Dice + cross-entropy) with per-level validation Dice."""

    def __init__(
        self,
        model_dir,
        network_factory,
        publish_path,
        card_path,
        card_fields,
        max_pixels: int,
        config: dict | None = None,
        **kwargs,
    ):
        defaults = {
            "max_epochs": 20,  # with the annealed rate: above the shipped model's Dice in 18.5 min on 2 cores (README)
            "train_batch_size": 8,
            "val_batch_size": 4,
            "val_split": VAL_SPLIT,
            "learning_rate": LEARNING_RATE,
            "dataset": "CacheDataset",
            "dataloader": "DataLoader",
            # Fine-tuning rounds of the annotation loop: ``max_steps`` > 0 caps the optimiser steps, so the epochs
            # follow the number of labels (a round on a few dozen films takes minutes); ``early_stop_patience`` > 0
            # (MONAI Label's own key) stops after that many epochs without a better selection Dice. Both off by
            # default: a full training runs its ``max_epochs``.
            "max_steps": 0,
            "early_stop_patience": -1,
            "warm_start": "last_run",
            "num_workers": DEFAULT_LOADER_WORKERS,
        }
        defaults.update(config or {})
        self._network_factory = network_factory
        self._served_path = publish_path
        self._card_path = card_path
        self._card_fields = card_fields
        self._max_pixels = max_pixels
        self.last_decision: PublishDecision | None = None
        self._launch: distributed.Launch | None = None  # set when torchrun started this process
        self._warm_start = "last_run"
        super().__init__(
            model_dir,
            "Train the C2-C7 levels model from final labels",
            config=defaults,
            publish_path=None,
            load_path=publish_path,
            # Plain tensors while the Ignite loop runs: nothing in training reads the metadata, and MONAI's MetaTensor
            # bookkeeping made an optimiser step about 15% slower in a micro-benchmark (0.58 s against 0.50 s).
            disable_meta_tracking=True,
            **kwargs,
        )

    def __call__(self, request, datastore):
        """MONAI Label's train task; under torchrun each process is one rank of it. MONAI Label's own keys
        (``multi_gpu``, ``gpus``) still spawn one process per GPU from a single process (``BasicTrainTask``)."""
        launch = distributed.torchrun_launch()
        if launch is None:
            return super().__call__(request, datastore)
        # What BasicTrainTask.__call__ does before it spawns, with torchrun's processes instead of spawned ones:
        # the process group comes from torchrun's variables (env://) inside BasicTrainTask.train.
        self._launch = launch
        req = copy.deepcopy(self._config)
        req.update(copy.deepcopy(request))
        req["run_id"] = datetime.now().strftime("%Y%m%d_%H%M%S")
        req["device"] = name_to_device(req.get("device", "cuda"))
        datalist = self.pre_process(req, datastore)
        req.update(multi_gpu=True, distributed_backend=distributed.backend_for(req["device"]))
        req["distributed_url"] = "env://"
        logger.info("levels training: rank %d of %d (torchrun)", launch.rank, launch.world_size)
        try:
            return self.train(launch.rank, launch.world_size, req, datalist)
        finally:
            self.cleanup(req)

    def _dataset(self, context: Context, datalist, is_train, replace_rate=0.25):
        # MONAI Label's CacheDataset fills its cache on one thread; with ``num_workers`` the films are read and
        # shrunk on that many threads (a distributed run keeps MONAI Label's per-rank partition and one thread).
        workers = loader_workers(context.request)
        if workers == 0 or context.multi_gpu or context.dataset_type != "CacheDataset":
            return super()._dataset(context, datalist, is_train, replace_rate)
        stage, pre = ("Training", self.train_pre_transforms) if is_train else ("Validation", self.val_pre_transforms)
        transforms = self._validate_transforms(pre(context), stage, "pre")
        return CacheDataset(datalist, transforms, num_workers=workers), datalist

    def train_data_loader(self, context: Context, num_workers=0, shuffle=True):
        return super().train_data_loader(context, loader_workers(context.request), shuffle)

    def _device(self, context: Context):
        # MONAI Label puts every distributed rank on a GPU; under torchrun the rank's own (LOCAL_RANK, read before
        # BasicTrainTask.train overwrites that variable with the global rank), and on a CPU-only machine the CPU.
        if context.multi_gpu and (self._launch is not None or not torch.cuda.is_available()):
            device = torch.device(distributed.device_for(self._launch, str(context.request["device"])))
            if device.type == "cuda":
                torch.cuda.set_device(device)
            return device
        return super()._device(context)

    def _create_network_and_optimizer(self, context: Context):
        if context.multi_gpu and context.device.type == "cpu":
            # MONAI Label passes device_ids=[device.index], which DDP refuses for a CPU module (index None).
            network = self.network(context).to(context.device)
            context.network = network
            optimizer = self.optimizer(context)
            return torch.nn.parallel.DistributedDataParallel(network, find_unused_parameters=False), optimizer
        return super()._create_network_and_optimizer(context)

    def network(self, context: Context):
        return self._network_factory()

    def optimizer(self, context: Context):
        return torch.optim.AdamW(
            context.network.parameters(), lr=float(context.request.get("learning_rate", LEARNING_RATE))
        )

    def lr_scheduler_handler(self, context: Context):
        # MONAI Label's default (StepLR every 1000 epochs) keeps the rate flat; annealing it to 1% over the run's
        # epochs (half a cosine, like the other trainers) reaches the same Dice in fewer epochs.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            context.optimizer,
            T_max=max(1, int(context.max_epochs)),
            eta_min=0.01 * float(context.request.get("learning_rate", LEARNING_RATE)),
        )
        return LrScheduleHandler(schedule, print_lr=False)

    def loss_function(self, context: Context):
        return DiceCELoss(to_onehot_y=True, softmax=True)

    def pre_process(self, request, datastore):
        items = []
        for item in datastore.datalist():
            image_id = item.get("image_id") or image_id_of(item["image"])
            info = datastore.get_image_info(image_id) if image_id else {}
            items.append({**item, "split": info.get("split"), "patient_id": info.get("patient_id")})
        if not items:
            raise BadInputError(
                "no images with final labels in the datastore: save at least one final level label first"
            )
        return items

    def partition_datalist(self, context: Context, shuffle=False):
        train, validation = partition(context.datalist, float(context.request.get("val_split", VAL_SPLIT)))
        if not train:
            raise BadInputError("no training images: every labelled image is in a validation or test split")
        selection, self._check_items, self._check_note = split_validation(validation, bool)
        context.max_epochs = epochs_for_steps(
            int(context.max_epochs), int(context.request.get("max_steps") or 0), len(train), context.train_batch_size
        )
        logger.info(
            "levels training: %d train, %d selection, %d publish-check images",
            len(train),
            len(selection),
            len(self._check_items),
        )
        return train, selection

    def _load(self):
        return [
            LoadRadiographd(("image",), self._max_pixels),
            LoadLevelLabeld(("label",)),
            Letterboxd(("image", "label"), LEVELS_INPUT_SIZE, label_keys=("label",)),
        ]

    def train_pre_transforms(self, context: Context):
        augmentation = str(context.request.get("augmentation") or "standard")
        if augmentation not in AUGMENTATIONS:
            raise BadInputError(f"augmentation must be one of {list(AUGMENTATIONS)}, got {augmentation!r}")
        if augmentation == "film":
            # Domain randomisation for real films (opt-in): the field of view is cropped before the letterbox.
            return [
                LoadRadiographd(("image",), self._max_pixels),
                LoadLevelLabeld(("label",)),
                Shrinkd(("image", "label"), FILM_CACHE_SHAPE, label_keys=("label",)),  # cached: small and fast
                RandSpineCropd(("image", "label"), label_key="label"),
                RandFieldOfViewCropd(("image", "label"), prob=0.3),
                Letterboxd(("image", "label"), LEVELS_INPUT_SIZE, label_keys=("label",)),
                film_augmentations("image", ("label",), LEVELS_INPUT_SIZE),
                EnsureTyped(("image", "label")),
            ]
        return self._load() + [
            RandFlipd(("image", "label"), prob=0.5, spatial_axis=1),  # patients facing either way
            RandAffined(
                ("image", "label"),
                prob=0.8,
                rotate_range=0.2,
                scale_range=0.15,
                translate_range=(20, 16),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            RandAdjustContrastd("image", prob=0.5, gamma=(0.6, 1.6)),
            RandScaleIntensityd("image", factors=0.2, prob=0.5),
            RandGaussianNoised("image", prob=0.3, std=0.03),
            EnsureTyped(("image", "label")),
        ]

    def train_post_transforms(self, context: Context):
        return [
            ArgmaxOneHotd("pred", "label", N_CLASSES),  # the argmax of the logits is the softmax's
        ]

    def val_pre_transforms(self, context: Context):
        return self._load() + [EnsureTyped(("image", "label"))]

    def val_inferer(self, context: Context):
        return SimpleInferer()

    def train_key_metric(self, context: Context):
        return {"train_mean_dice": MeanDice(output_transform=from_engine(["pred", "label"]), include_background=False)}

    def val_key_metric(self, context: Context):
        return {"val_mean_dice": MeanDice(output_transform=from_engine(["pred", "label"]), include_background=False)}

    def finalize(self, context: Context):
        self._context = context
        super().finalize(context)
        # Published when the Ignite run completes, while a distributed run's process group is still up (MONAI
        # Label's train destroys it on return): rank 0 decides, the other ranks wait at the barrier.
        context.trainer.add_event_handler(ignite.engine.Events.COMPLETED, lambda engine: self._after_run(context))

    def load_path(self, output_dir, pretrained=True):
        if self._warm_start == "served":
            return self._served_path
        if self._warm_start == "none":
            return None
        return super().load_path(output_dir, pretrained)

    def train(self, rank, world_size, request, datalist):
        self._started, self._publish_stats = time.time(), None
        self._warm_start = str(request.get("warm_start") or "last_run")
        if self._warm_start not in WARM_STARTS:
            raise BadInputError(f"warm_start must be one of {list(WARM_STARTS)}, got {self._warm_start!r}")
        warm_from = self.load_path(os.path.join(self._model_dir, request["name"]), request.get("pretrained", True))
        if not (warm_from and os.path.isfile(warm_from)):
            warm_from = "random weights"
        elif warm_from == self._served_path:
            warm_from = "served weights"
        stats = super().train(rank, world_size, request, datalist)
        if self._publish_stats is not None:
            stats["publish"] = self._publish_stats
        context = self._context
        stats["schedule"] = {
            "warm_start": self._warm_start,
            "started_from": warm_from,
            "max_epochs": context.max_epochs,
            "epochs_run": context.trainer.state.epoch,
            "stopped_early": context.trainer.state.epoch < context.max_epochs,
            "train_images": len(context.train_datalist),
            "seconds": round(time.time() - self._started, 1),
        }
        return stats

    def _after_run(self, context: Context) -> None:
        network = getattr(context.network, "module", context.network)
        distributed.broadcast_buffers(network)
        self.trained_network = network  # this rank's trained weights (equal on every rank)
        # (not ``self.network``: that is the method MONAI Label calls to build the next run's network)
        if distributed.is_rank_zero():
            self._publish(context, context.request, self._started)
        else:
            rank, world = distributed.rank(), distributed.world_size()
            self._publish_stats = {"published": False, "reason": f"rank {rank} of {world}: rank 0 publishes"}
        distributed.barrier()

    def _publish(self, context: Context, request: dict, started: float) -> None:
        if context.evaluator is None:
            logger.warning(
                "no validation images: the new levels model is kept in %s but not published", context.output_dir
            )
            return
        check = self._check_data(context)
        candidate = f"{context.output_dir}/{self._key_metric_filename}"
        scores = {}  # weight file -> publish-check Dice, so the card and the decision share one evaluation

        def score(weights: str) -> float:
            if weights not in scores:
                scores[weights] = self._check_dice(context, weights, check)
            return scores[weights]

        validation = {"images": len(check), "set": self._check_note}
        if os.path.isfile(candidate):
            validation["mean_dice"] = round(score(candidate), 6)
        self.last_decision = publish_if_better(
            candidate=candidate,
            served=self._served_path,
            card_path=self._card_path,
            score=score,
            card_fields={
                **self._card_fields(),
                "training": _training_record(request, context, started),
                "validation": validation,
            },
            margin=PUBLISH_MARGIN_DICE,
        )
        self._publish_stats = self.last_decision.as_dict()

    def _check_data(self, context: Context) -> list:
        """The publish-check images and labels through the validation transforms, read once for both models."""
        transforms = Compose(self.val_pre_transforms(context))
        return [transforms(dict(item)) for item in self._check_items]

    def _check_dice(self, context: Context, weights_path, check: list) -> float:
        """Mean per-level Dice (background left out) of ``weights_path`` on the publish-check images."""
        network = load_weights(self._network_factory(), weights_path, "cpu").to(context.device).eval()
        scores = []
        with torch.no_grad():
            for sample in check:
                logits = network(torch.as_tensor(sample["image"])[None].to(context.device))
                pred = one_hot(logits.argmax(dim=1, keepdim=True), N_CLASSES)
                label = one_hot(torch.as_tensor(sample["label"])[None].long().to(context.device), N_CLASSES)
                scores.append(compute_dice(pred, label, include_background=False))
        # DiceMetric's mean, reduced here: DiceMetric.aggregate gathers from every rank, and only rank 0 is here.
        return float(do_metric_reduction(torch.cat(scores), MetricReduction.MEAN)[0])


def loader_workers(request: dict) -> int:
    """The request's ``num_workers``: data-loading processes (and cache threads), 0 for none. At most the machine's
    cores: a request to the server must not fork more processes than the workstation can run."""
    value = request.get("num_workers") or 0
    cores = os.cpu_count() or 1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= cores:
        raise BadInputError(f"num_workers must be an integer in 0..{cores} (this machine's cores), got {value!r}")
    return value


def epochs_for_steps(max_epochs: int, max_steps: int, train_images: int, batch_size: int) -> int:
    """The epochs a run takes: ``max_epochs``, or fewer when ``max_steps`` (> 0) optimiser steps are reached first."""
    if max_steps < 0:
        raise BadInputError(f"max_steps must be 0 (no cap) or more, got {max_steps}")
    if max_steps == 0 or train_images == 0:
        return max_epochs
    batches = math.ceil(train_images / max(1, batch_size))
    return max(1, min(max_epochs, math.ceil(max_steps / batches)))


def _training_record(request: dict, context: Context, started: float) -> dict:
    return {
        "max_epochs": context.max_epochs,
        "train_images": len(context.train_datalist),
        "validation_images": len(context.val_datalist),
        "batch_size": context.train_batch_size,
        "learning_rate": float(request.get("learning_rate", LEARNING_RATE)),
        "device": str(context.device),
        "seconds": round(time.time() - started, 1),
    }
