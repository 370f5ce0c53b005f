"""``python main.py train MODEL``: the same train task the server runs, in this process, on a datastore folder."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

from apps.cli.common import conf_dict, torch_threads
from apps.paths import APP_DIR
from lib.core.errors import BadParameterError
from lib.core.settings import parse_settings

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    train = sub.add_parser("train", help="train a model on a datastore (publishes only a better validated model)")
    train.add_argument("model", choices=("levels", "compression", "landmarks"), help="which model")
    train.add_argument("--studies", type=Path, required=True, help="datastore folder with final labels")
    train.add_argument("--epochs", type=int, help="default: the model's own (levels 20, compression 12, landmarks 25)")
    train.add_argument(
        "--batch-size", type=int, help="default: the model's own (levels 8, compression 32, landmarks 64)"
    )
    train.add_argument("--learning-rate", type=float, help="default: the model's own (2e-3 for all three)")
    train.add_argument("--val-split", type=float, default=0.1, help="validation share for images without a split")
    train.add_argument(
        "--augmentation",
        choices=("standard", "film"),
        help="levels and compression: standard (default) or film (domain randomisation for real films)",
    )
    train.add_argument(
        "--max-steps",
        type=int,
        help="levels only: most optimiser steps, so epochs follow the labels (default 0: off)",
    )
    train.add_argument(
        "--patience", type=int, help="levels only: stop after N epochs without a better validation Dice (default off)"
    )
    train.add_argument(
        "--warm-start",
        choices=("last_run", "served", "none"),
        help="levels only: start from the last run's best checkpoint (default, else the served weights), the served "
        "weights, or random weights",
    )
    train.add_argument(
        "--workers",
        type=int,
        help="levels only: processes that read and augment films beside training (default 1, 0 on a one-core "
        "machine); on a GPU machine, about its cores",
    )
    train.add_argument("--threads", type=int, help="torch CPU threads")
    train.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting, e.g. model_dir")
    train.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train a model on a datastore; the new weights replace the served ones only if they validate better."""
    torch_threads(args.threads)
    request = {
        "max_epochs": args.epochs,
        "train_batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "val_split": args.val_split,
        "augmentation": getattr(args, "augmentation", None),
        "max_steps": getattr(args, "max_steps", None),
        "early_stop_patience": getattr(args, "patience", None),
        "warm_start": getattr(args, "warm_start", None),
        "num_workers": getattr(args, "workers", None),
    }
    request = {k: v for k, v in request.items() if v is not None}  # unset: the model's own default
    stats = train_model(args.model, str(args.studies), conf_dict(args.conf), request)
    print(
        json.dumps(
            {k: stats.get(k) for k in ("best_metric", "best_metric_epoch", "total_time", "schedule", "publish")},
            indent=2,
            default=str,
        )
    )
    return 0


def train_model(model: str, studies: str, conf: dict, request: dict) -> dict:
    """Train ``model`` on the datastore at ``studies``; returns the train task's stats (with the publish decision)."""
    from apps.datastores.local import RadiographDatastore
    from apps.models.registry import MODEL_REGISTRY

    if model not in MODEL_REGISTRY:
        raise BadParameterError(f"unknown model {model!r}; trainable models: {', '.join(MODEL_REGISTRY)}")
    if not os.path.isdir(studies):
        raise BadParameterError(f"--studies {studies}: no such datastore folder")
    settings = parse_settings(conf)
    # Recorded in the model card: the exact command that produced the weights.
    os.environ["APP_TRAIN_COMMAND"] = "python main.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    os.environ["APP_TRAIN_DATA"] = describe_datastore(studies)
    served = MODEL_REGISTRY[model](settings, str(APP_DIR))
    task = served.trainer()
    datastore = RadiographDatastore(studies, max_image_pixels=settings.max_image_pixels, auto_reload=False)
    full_request = {"model": model, "name": "cli", **request}
    logger.info("training %s on %s: %s", model, studies, full_request)
    return task(full_request, datastore)


def describe_datastore(studies: str) -> str:
    """One line for the model card: the folder, its size and, for a phantom cohort, its ceiling file."""
    folder = Path(studies)
    images = len(list(folder.glob("labels/final/*")))
    text = f"{folder.name}: {images} images with final labels"
    ceiling = folder / "ceiling.json"
    if ceiling.is_file():
        facts = json.loads(ceiling.read_text())
        auc = facts.get("auc", {})
        text += (
            f" (phantom cohort, seed {facts.get('seed', '?')}, from 'python main.py phantom'; oracle ceiling AUC "
            # A split with one class only has no AUC (null in ceiling.json).
            + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} n/a" for k, v in sorted(auc.items()))
            + ")"
        )
    return text
