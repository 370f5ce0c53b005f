"""Patient-level partitions for training: the datastore's own ``split`` wins, else a stable hash of the patient.

Test splits never reach training or validation (no leakage); images of one patient always fall together.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Mapping

TRAIN_SPLITS = {"train", "training"}
VALIDATION_SPLITS = {"validation", "val", "valid"}


def hashed_fraction(key: str) -> float:
    """A stable number in [0, 1) for ``key`` (the same on every machine and run)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def partition(items: Iterable[Mapping], val_fraction: float = 0.1) -> tuple[list[dict], list[dict]]:
    """Split datalist items into (train, validation).

    Each item may carry ``split`` and ``patient_id``; an item with a known train/validation split keeps it, one
    with any other split (a test set) is left out, and one with none goes to validation when the hash of its
    patient (or image) falls below ``val_fraction``.
    """
    train, validation = [], []
    for item in items:
        split = str(item.get("split") or "").lower()
        if split in TRAIN_SPLITS:
            train.append(dict(item))
        elif split in VALIDATION_SPLITS:
            validation.append(dict(item))
        elif not split:
            key = str(item.get("patient_id") or item.get("image"))
            (validation if hashed_fraction(key) < val_fraction else train).append(dict(item))
    return train, validation


# Share of the validation patients held out from choosing the epoch and the threshold, to decide publication.
PUBLISH_CHECK_FRACTION = 0.5


def publish_check_split(validation: Iterable[Mapping]) -> tuple[list[dict], list[dict]]:
    """Split validation items into (selection, publish check) by patient: selection chooses the best epoch and the
    operating threshold, the publish check (data that chose neither) decides whether the new model replaces the
    served one. A patient's images fall together; the split is stable across runs and machines."""
    selection, check = [], []
    for item in validation:
        key = "publish-check:" + str(item.get("patient_id") or item.get("image"))
        (check if hashed_fraction(key) < PUBLISH_CHECK_FRACTION else selection).append(dict(item))
    return selection, check
