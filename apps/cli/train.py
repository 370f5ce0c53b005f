"""``python main.py train MODEL``: the same train task the server runs, in this process, on a datastore folder."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from pathlib import Path

from apps.datastores.local import RadiographDatastore
from apps.models.registry import MODEL_REGISTRY
from apps.paths import APP_DIR
from lib.core.errors import BadParameterError
from lib.core.settings import parse_settings

logger = logging.getLogger(__name__)


def train_model(model: str, studies: str, conf: dict, request: dict) -> dict:
    """Train ``model`` on the datastore at ``studies``; returns the train task's stats (with the publish decision)."""
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
            + ", ".join(f"{k} {v:.3f}" for k, v in sorted(auc.items()))
            + ")"
        )
    return text
