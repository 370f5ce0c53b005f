"""``python main.py benchmark levels``: the levels model's figures for its model card.

Dice per vertebral body and level identity on the phantom test splits (the model's own infer task, in this
process), inference time per radiograph inside the infer task (reading the DICOM included, HTTP excluded), and
the peak memory of a real server process answering levels inference.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path

import numpy as np

from apps.datastores.local import RadiographDatastore
from apps.models.levels import LevelsModel
from apps.paths import APP_DIR
from lib.anatomy.levels import multilabel_dice
from lib.anatomy.names import LEVEL_LABELS, VERTEBRAE
from lib.core.settings import parse_settings
from lib.io.labels import read_label_map

logger = logging.getLogger(__name__)
TEST_SPLITS = ("test_internal", "test_external")


def level_identity(predicted: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """(correct, visible): a visible true body is correct when most of it carries its own id in the prediction."""
    correct = visible = 0
    for name in VERTEBRAE:
        body = truth == LEVEL_LABELS[name]
        if not body.any():
            continue
        visible += 1
        ids, counts = np.unique(predicted[body], return_counts=True)
        correct += int(ids[np.argmax(counts)] == LEVEL_LABELS[name])
    return correct, visible


def evaluate_split(model: LevelsModel, store: RadiographDatastore, split: str, limit: int | None) -> dict:
    """Dice per body, level identity and per-image inference seconds over one split's labelled images."""
    ids = [i for i in store.get_labeled_images("final") if store.get_image_info(i).get("split") == split][:limit]
    dice_by_level = {name: [] for name in VERTEBRAE}
    correct = visible = 0
    seconds = []
    for image_id in ids:
        started = time.perf_counter()
        _, data = model.infer_task({"image": store.get_image_uri(image_id), "skip_writer": True, "device": "cpu"})
        seconds.append(time.perf_counter() - started)
        predicted = np.asarray(data["pred"])
        truth = read_label_map(store.get_label_uri(image_id, "final"))
        for name, value in multilabel_dice(predicted, truth).items():
            if name in dice_by_level and value is not None and (truth == LEVEL_LABELS[name]).any():
                dice_by_level[name].append(value)
        c, v = level_identity(predicted, truth)
        correct, visible = correct + c, visible + v
    all_dice = [d for values in dice_by_level.values() for d in values]
    return {
        "images": len(ids),
        "mean_body_dice": round(float(np.mean(all_dice)), 4) if all_dice else None,
        "dice_per_level": {k: round(float(np.mean(v)), 4) if v else None for k, v in dice_by_level.items()},
        "level_identity": round(correct / visible, 4) if visible else None,
        "visible_vertebrae": visible,
        "seconds_per_image_median": round(statistics.median(seconds), 4) if seconds else None,
        "seconds_per_image_p90": round(float(np.percentile(seconds, 90)), 4) if seconds else None,
    }


def server_peak_memory_mb(studies: Path, model_dir: str, image_ids: list[str]) -> float | None:
    """VmHWM of a real server process after answering levels inference on ``image_ids``."""
    from monailabel.client import MONAILabelClient

    from apps.ops.server_process import LiveServer

    conf = {"model_dir": model_dir, "models": "levels", "skip_trainers": "true"}
    with LiveServer(studies, conf=conf, log_path=Path("/tmp") / "levels-benchmark-server.log") as server:
        client = MONAILabelClient(server.url)
        for image_id in image_ids:
            client.infer("levels", image_id, {})
        # LiveServer runs "python main.py serve", which execs the server: the process is the server itself.
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        line = next(row for row in status.splitlines() if row.startswith("VmHWM"))
        return round(int(line.split()[1]) / 1024, 1)


def run_levels_benchmark(args) -> dict:
    studies = Path(args.studies or APP_DIR / "data" / "protocol")
    model_dir = str(getattr(args, "model_dir", None) or APP_DIR / "model")
    import torch

    torch.set_num_threads(2)
    settings = parse_settings({"model_dir": model_dir, "models": "levels"})
    model = LevelsModel(settings, str(APP_DIR))
    store = RadiographDatastore(
        str(studies), max_image_pixels=settings.max_image_pixels, auto_reload=False, read_only=True
    )
    result = {"studies": str(studies), "model_version": model.pool.card().get("version", "untrained"), "threads": 2}
    for split in TEST_SPLITS:
        result[split] = evaluate_split(model, store, split, getattr(args, "limit", None))
    sample = [i for i in store.list_images() if store.get_image_info(i).get("split") == "test_internal"][:5]
    result["server_peak_rss_mb"] = server_peak_memory_mb(studies, model_dir, sample)
    logger.info("levels benchmark: %s", json.dumps(result))
    return result
