"""``python main.py batch-infer``: the pipeline over a whole archive on Ray, resumable, one result per film.

Films come from a folder tree, a local datastore or a DICOMweb server (QIDO: CR/DX series, optionally by study
dates and body part). Results go to ``--out`` (see ``lib.batch.results``); ``--write-back`` stores each DICOM
film's findings (SEG, overlay SC, SR) into its study on the DICOMweb server. Run it again on the same ``--out`` to
resume: what is done is skipped, failures are tried again.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from apps.cli.common import conf_dict
from lib.core.errors import BadParameterError

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    batch = sub.add_parser("batch-infer", help="the pipeline over a folder, datastore or DICOMweb archive on Ray")
    source = batch.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", type=Path, help="every radiograph file under this folder (recursive)")
    source.add_argument("--studies", type=Path, help="the radiographs of a local datastore")
    source.add_argument("--dicomweb", help="a DICOMweb server, e.g. http://127.0.0.1:8042/dicom-web")
    batch.add_argument("--out", type=Path, required=True, help="output folder (results, summary.csv, report.json)")
    batch.add_argument("--workers", type=int, default=2, help="Ray actors, each with its own models (default 2)")
    batch.add_argument("--threads-per-worker", type=int, default=1, help="torch threads per actor (default 1)")
    batch.add_argument(
        "--gpus-per-worker",
        type=float,
        default=0.0,
        help="GPU share per actor (e.g. 1, or 0.5 for two actors a GPU); default 0: the models run on the CPU",
    )
    batch.add_argument("--address", help="an existing Ray cluster (e.g. ray://head:10001); default: a local Ray")
    batch.add_argument("--modality", default="CR,DX", help="DICOMweb: modalities to query (default CR,DX)")
    batch.add_argument("--study-dates", default="", help="DICOMweb: StudyDate range, e.g. 20240101-20241231")
    batch.add_argument("--body-part", default="", help="DICOMweb: BodyPartExamined, e.g. CSPINE")
    batch.add_argument("--write-back", action="store_true", help="DICOMweb: store the findings into each study")
    batch.add_argument(
        "--retry-failed", action="store_true", help="try again films an earlier run refused (unreadable, not a film)"
    )
    batch.add_argument("--limit", type=int, help="at most this many films (the first, in key order)")
    batch.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting, e.g. model_dir")
    batch.set_defaults(func=run)


def check_gpus(gpus_per_worker: float, workers: int, address) -> None:
    """Refuse a GPU share a local Ray cannot give: Ray would wait for the GPUs for ever instead of failing."""
    if gpus_per_worker < 0:
        raise BadParameterError(f"--gpus-per-worker must be 0 or more, got {gpus_per_worker}")
    if gpus_per_worker == 0 or address:
        return  # a cluster has its own GPUs, which this machine cannot count
    import math

    import torch

    needed, present = math.ceil(workers * gpus_per_worker), torch.cuda.device_count()
    if needed > present:
        raise BadParameterError(
            f"--workers {workers} x --gpus-per-worker {gpus_per_worker:g} needs {needed} GPU(s); "
            f"this machine has {present}"
        )


def run(args: argparse.Namespace) -> int:
    from apps.batch.runner import run_batch
    from apps.batch.sources import datastore_films, dicomweb_films, folder_films, qido_filters
    from lib.core.settings import parse_settings

    if args.workers < 1 or args.threads_per_worker < 1:
        raise BadParameterError("--workers and --threads-per-worker must be at least 1")
    check_gpus(args.gpus_per_worker, args.workers, args.address)
    if args.write_back and not args.dicomweb:
        raise BadParameterError("--write-back stores findings on a DICOMweb server: give --dicomweb")
    conf = conf_dict(args.conf)
    settings = parse_settings(conf)  # a bad setting is refused here, before Ray starts
    if args.folder:
        if not args.folder.is_dir():
            raise BadParameterError(f"--folder {args.folder} is not a folder")
        films, skipped = folder_films(args.folder)
    elif args.studies:
        films, skipped = datastore_films(args.studies, settings.max_image_pixels)
    else:
        from dicomweb_client.api import DICOMwebClient

        from apps.batch.worker import with_retry

        url = args.dicomweb.rstrip("/")
        modalities = [m.strip().upper() for m in args.modality.split(",") if m.strip()]
        filters = qido_filters(modalities, args.study_dates, args.body_part)
        films = with_retry(lambda: dicomweb_films(DICOMwebClient(url=url), url, filters), "QIDO search", url)
        skipped = []
    films = sorted(films, key=lambda f: f.key)[: args.limit]
    if not films:
        raise BadParameterError("no radiograph found in the source given")
    print(f"{len(films)} films; {len(skipped)} files skipped")
    report = run_batch(
        films,
        args.out,
        conf,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        address=args.address,
        dicomweb_url=args.dicomweb.rstrip("/") if args.dicomweb else None,
        write_back=args.write_back,
        skipped=skipped,
        retry_failed=args.retry_failed,
    )
    for entry in report["skipped"]:
        print(f"skipped {entry['source']}: {entry['reason']}")
    for entry in report["refused_before"]:
        print(f"refused {entry['source']} (earlier run; --retry-failed tries again): {entry['reason']}")
    for entry in report["failed"]:
        print(f"failed  {entry['source']}: {entry['reason']}")
    steady = report.get("films_per_second_steady")
    rate = f", {steady} films/s after loading" if steady else ""
    print(
        f"{report['done']} done, {report['already_done']} already done, {len(report['failed'])} failed, "
        f"{report['held']} held by another run, in {report['seconds']} s{rate} -> {args.out}/summary.csv"
    )
    return 0 if not report["failed"] else 3
