"""``python main.py watch --studies URL --out DIR``: follow a DICOMweb server and store the pipeline's findings
into the study of every new CR/DX series, once (``apps.batch.watch``). Run it again on the same ``--out`` and it
goes on where it stopped; ``--once`` handles what is new and exits.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from apps.cli.common import conf_dict, torch_threads
from lib.core.errors import BadParameterError

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    watch = sub.add_parser("watch", help="run the pipeline on every new radiograph series of a DICOMweb server")
    watch.add_argument("--studies", required=True, help="the DICOMweb server, e.g. http://127.0.0.1:8042/dicom-web")
    watch.add_argument("--out", type=Path, required=True, help="state and results folder (as batch-infer's --out)")
    watch.add_argument("--modality", nargs="+", default=["CR", "DX"], help="series modalities to read (default CR DX)")
    watch.add_argument("--poll-seconds", type=float, default=30.0, help="pause between polls (default 30)")
    watch.add_argument("--once", action="store_true", help="handle what is new, then exit")
    watch.add_argument(
        "--feed",
        choices=("auto", "orthanc", "qido"),
        default="auto",
        help="where new series come from: Orthanc's change feed, QIDO listings, or auto (Orthanc when it is one)",
    )
    watch.add_argument(
        "--from-now", action="store_true", help="first run: leave what the server holds already, read what comes next"
    )
    watch.add_argument("--no-write-back", action="store_true", help="keep the findings in --out, store nothing")
    watch.add_argument("--threads", type=int, help="torch CPU threads")
    watch.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting, e.g. model_dir")
    watch.set_defaults(func=run)


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt  # a service manager's stop ends the watcher as Ctrl-C does


def run(args: argparse.Namespace) -> int:
    from apps.batch.watch import Watcher, watch
    from lib.core.settings import parse_settings

    if args.poll_seconds <= 0:
        raise BadParameterError(f"--poll-seconds must be above 0, not {args.poll_seconds}")
    modalities = tuple(m.strip().upper() for arg in args.modality for m in arg.split(",") if m.strip())
    if not modalities:
        raise BadParameterError("--modality names no modality")
    conf = conf_dict(args.conf)
    parse_settings(conf)  # a bad setting is refused here, before anything is read
    torch_threads(args.threads)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        watcher = Watcher(
            args.studies,
            args.out,
            conf,
            modalities=modalities,
            feed=args.feed,
            write_back=not args.no_write_back,
            from_now=args.from_now,
        )
        report = watch(watcher, args.poll_seconds, args.once)
    except KeyboardInterrupt:
        print(f"stopped; the next run on {args.out} goes on from where this one was")
        return 0
    print(
        f"{report['done']} done, {report['already_done']} already done, {len(report['failed'])} failed, "
        f"{report['series']} series read, {report['skipped_series']} not radiographs ({report['feed']} feed) "
        f"-> {args.out}/summary.csv"
    )
    return 0 if not report["failed"] else 3
