"""One rank of a two-process data-parallel training run, as torchrun starts it (its variables set, then the train
task called), for ``tests/integration/test_distributed_train.py``. A module of its own so that
``torch.multiprocessing.spawn`` can import it in each new process."""

from __future__ import annotations

import faulthandler
import json
import os
import sys
from pathlib import Path

import torch

APP_DIR = str(Path(__file__).resolve().parents[1])
HANG_S = 600
REQUESTS = {
    "levels": {"max_epochs": 1, "train_batch_size": 2, "val_batch_size": 1},
    "compression": {"max_epochs": 1, "train_batch_size": 8, "seed": 0},
}


def train_rank(rank: int, world_size: int, ports: dict, studies: str, model_dir: str, out: str) -> None:
    """Train each model of ``ports`` as rank ``rank``; this rank's weights and stats go to ``out``."""
    from apps.datastores.local import RadiographDatastore
    from apps.models.registry import MODEL_REGISTRY
    from lib.core.settings import parse_settings

    torch.set_num_threads(1)
    # A rank stuck at a collective the other never reaches would hang the test: print where, and end.
    faulthandler.dump_traceback_later(HANG_S + 30 * rank, exit=True, file=sys.stderr)
    settings = parse_settings({"model_dir": model_dir, "device": "cpu"})
    datastore = RadiographDatastore(studies, max_image_pixels=settings.max_image_pixels, auto_reload=False)
    for model, port in ports.items():
        # What torchrun sets for each process it starts; a port per run, as each run has a process group of its own.
        os.environ.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world_size),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        task = MODEL_REGISTRY[model](settings, APP_DIR).trainer()
        stats = task({"model": model, "name": "ddp", **REQUESTS[model]}, datastore)
        torch.save(task.trained_network.state_dict(), Path(out) / f"{model}_rank{rank}.pt")
        (Path(out) / f"{model}_rank{rank}.json").write_text(json.dumps(stats.get("publish"), default=str))
