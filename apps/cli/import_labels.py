"""``python main.py import-labels``: per-segment MRI labels from a CSV into the datastore, all rows or none.

Validation (``lib.evaluation.segment_labels``) runs on every row before anything is written; the update is then one
atomic index write (``RadiographDatastore.update_image_infos``), so a failure leaves the datastore as it was.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from apps.cli.common import conf_dict
from lib.core.errors import BadParameterError
from lib.core.settings import parse_settings
from lib.evaluation.segment_labels import merge_segments, parse_segment_labels

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    import_labels = sub.add_parser("import-labels", help="per-segment MRI labels from a CSV into a datastore")
    import_labels.add_argument("csv", type=Path, help="CSV: image_id or patient_id, segment, compression and/or kang")
    import_labels.add_argument("--studies", type=Path, required=True, help="datastore folder")
    import_labels.add_argument(
        "--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="e.g. kang_threshold 2"
    )
    import_labels.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Per-segment MRI labels from a CSV into the datastore's image info, all rows or none."""
    report = import_labels(args.csv, args.studies, conf_dict(args.conf))
    print(
        f"imported {report['rows']} rows into {report['images_updated']} images; "
        f"{report['images_without_labels']} images have no row in the CSV"
    )
    return 0


def import_labels(csv_path, studies, conf: dict | None = None) -> dict:
    """Import the CSV's labels into the datastore at ``studies``; returns counts for the report.

    ``{"rows", "images_updated", "images_without_labels", "id_column"}``; raises ``BadInputError`` (nothing
    written) when any row is bad.
    """
    from apps.datastores.local import RadiographDatastore

    settings = parse_settings(conf or {})
    store = RadiographDatastore(str(studies), max_image_pixels=settings.max_image_pixels)
    image_ids = list(store.list_images())
    if not image_ids:
        raise BadParameterError(f"{studies}: the datastore has no images")
    infos = {i: store.get_image_info(i) for i in image_ids}
    patients: dict = {}
    for image_id, info in infos.items():
        if info.get("patient_id"):
            patients.setdefault(str(info["patient_id"]), []).append(image_id)
    parsed = parse_segment_labels(csv_path, image_ids, patients, settings.kang_threshold)
    updates = {i: {"segments": merge_segments(infos[i], segments)} for i, segments in parsed["updates"].items()}
    store.update_image_infos(updates)
    logger.info("imported %d label rows into %d images", parsed["rows"], len(updates))
    return {
        "rows": parsed["rows"],
        "images_updated": len(updates),
        "images_without_labels": len(image_ids) - len(updates),
        "id_column": parsed["id_column"],
    }
