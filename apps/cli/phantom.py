"""``python main.py phantom``: phantom cohorts as MONAI Label datastores, generated with ``lib.phantom`` and indexed
with the datastore.

The phantom writes images, level masks and ``phantom_labels.json``; this module copies each image's
per-segment reference labels into the datastore's image info under ``segments`` (the place every trainer,
the pipeline and the evaluation read them from) and publishes the folder only once it is complete.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

from lib.core.errors import BadParameterError

logger = logging.getLogger(__name__)

PHANTOM_LABELS = "phantom_labels.json"
# Keys of a phantom segment that are the reference standard; the rest is ground truth kept under "phantom".
REFERENCE_KEYS = ("compression", "kang", "evaluable")


def add_parser(sub) -> None:
    phantom = sub.add_parser("phantom", help="generate a synthetic lateral cervical radiograph cohort as a datastore")
    phantom.add_argument("--out", type=Path, required=True, help="folder to create (must not exist)")
    phantom.add_argument(
        "--preset",
        choices=("cohort", "protocol", "demo"),
        default="cohort",
        help="cohort: one centre split 80/10/10; protocol: 480/60/60 internal + 60 external; demo: small two-centre",
    )
    phantom.add_argument("--patients", type=int, default=24, help="patients (cohort and demo presets)")
    phantom.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    phantom.add_argument("--centre", default="internal", help="centre profile (cohort preset)")
    phantom.add_argument("--prevalence", type=float, default=0.5, help="share of compressed segments, 0-1 exclusive")
    phantom.add_argument("--workers", type=int, default=2, help="worker processes")
    phantom.add_argument(
        "--style",
        choices=("schematic", "film", "mixed"),
        default="schematic",
        help="schematic: the cartoon phantom; film: the same patients drawn and exposed like real films (curved, "
        "textured bodies; facing, posture, rotation, spacing, field of view, markers vary); mixed: every patient as "
        "film plus the schematic drawing of every second training patient and of all others (training on both)",
    )
    phantom.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write a synthetic cohort as a MONAI Label datastore (protocol, demo or a one-centre cohort)."""
    path = make_cohort(
        args.out,
        patients=args.patients,
        seed=args.seed,
        centre=args.centre,
        prevalence=args.prevalence,
        preset=args.preset,
        workers=args.workers,
        style=args.style,
    )
    print(f"cohort written to {path}")
    return 0


def make_cohort(
    out: str | Path,
    patients: int = 24,
    seed: int = 0,
    centre: str = "internal",
    prevalence: float = 0.5,
    preset: str = "cohort",
    workers: int = 2,
    style: str = "schematic",
) -> Path:
    """Generate a cohort into ``out`` (which must not exist) and index it as a datastore; returns ``out``."""
    from lib.phantom import cohort_config, demo_config, protocol_config, write_cohort

    out = Path(out)
    if out.exists():
        raise BadParameterError(f"--out {out} already exists; choose a new folder (nothing was overwritten)")
    if preset == "protocol":
        config = protocol_config(seed=seed, prevalence=prevalence)
    elif preset == "demo":
        config = demo_config(seed=seed, patients=patients)
    elif preset == "cohort":
        config = cohort_config(patients=patients, seed=seed, centre=centre, prevalence=prevalence)
    else:
        raise BadParameterError(f"preset {preset!r} is unknown; use cohort, protocol or demo")
    staging = out.with_name(f".{out.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        write_cohort(staging, config, progress=True, workers=workers, style=style)
        index_cohort(staging)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def make_demo_datastore(out: str | Path, patients: int = 24, seed: int = 0) -> Path:
    """The small two-centre demo cohort the README's serve command starts on."""
    return make_cohort(out, patients=patients, seed=seed, preset="demo")


def index_cohort(folder: str | Path) -> int:
    """Create the datastore index of a phantom folder with each image's ``segments`` in its info; returns images."""
    from apps.datastores.local import RadiographDatastore

    folder = Path(folder)
    truth = json.loads((folder / PHANTOM_LABELS).read_text())
    store = RadiographDatastore(str(folder), max_image_pixels=400_000_000, auto_reload=False)
    infos = {image_id: image_info_from_phantom(entry) for image_id, entry in truth.items()}
    store.update_image_infos(infos)
    return len(infos)


def image_info_from_phantom(entry: dict) -> dict:
    """Datastore image info for one phantom image: reference ``segments``, ids and split, the rest under ``phantom``."""
    segments = {
        name: {key: seg[key] for key in REFERENCE_KEYS if key in seg} for name, seg in entry.get("segments", {}).items()
    }
    info = {"segments": segments, "source": "phantom"}
    for key in ("patient_id", "centre", "split"):
        if key in entry:
            info[key] = entry[key]
    info["phantom"] = {k: v for k, v in entry.items() if k not in ("patient_id", "centre", "split")}
    return info
