"""``python main.py orthanc start|stop|upload`` and ``python main.py demo-ohif``: the viewer commands.

The machinery (Orthanc's configuration and process, the MONAI Label command on DICOMweb, the OHIF screenshots) lives
in ``apps.ops.orthanc`` and ``apps.ops.ohif``; these are the command lines over it.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
from pathlib import Path

from apps.cli.common import conf_dict
from apps.ops import ohif
from apps.ops.ohif import ORTHANC_DIR, demo_screenshots, monailabel_env
from apps.ops.orthanc import DEFAULT_HTTP_PORT, Orthanc
from apps.ops.server_process import monailabel_command
from apps.ops.viewer import OHIF_VERSION, ViewerServer, check_installed
from apps.paths import DEMO_DATASTORE

# The demo's lines, the command's and the machinery's, under one logger name.
logger = logging.getLogger(ohif.__name__)


def add_parser(sub) -> None:
    """Register ``orthanc`` and ``demo-ohif`` on the main parser's subcommands."""
    orthanc = sub.add_parser("orthanc", help="start, stop or upload DICOM to a loopback-only Orthanc (DICOMweb)")
    orthanc.add_argument("action", choices=("start", "stop", "upload"))
    orthanc.add_argument("path", nargs="?", type=Path, help="upload: folder of DICOM files (searched recursively)")
    orthanc.add_argument(
        "--folder", type=Path, default=ORTHANC_DIR, help=f"configuration and storage (default {ORTHANC_DIR})"
    )
    orthanc.add_argument("--port", type=int, default=DEFAULT_HTTP_PORT, help="HTTP port on 127.0.0.1 (default 8042)")
    orthanc.set_defaults(func=run_orthanc)

    demo = sub.add_parser(
        "demo-ohif", help="Orthanc + phantom demo studies + MONAI Label + OHIF 3.13; prints the viewer's address"
    )
    demo.add_argument("--port", type=int, default=8000, help="MONAI Label port on 127.0.0.1 (default 8000)")
    demo.add_argument(
        "--viewer-port", type=int, default=3000, help="OHIF 3.13's own origin on 127.0.0.1 (default 3000)"
    )
    demo.add_argument("--orthanc-port", type=int, default=DEFAULT_HTTP_PORT, help="Orthanc HTTP port (default 8042)")
    demo.add_argument("--folder", type=Path, default=ORTHANC_DIR, help="Orthanc storage and the server's DICOM cache")
    demo.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting, e.g. model_dir")
    demo.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="run the pipeline with write-back on a demo study (servers on free ports), save OHIF 3.13 "
        "screenshots of the findings SEG on the radiograph, the overlay and the SR drawn on the radiograph "
        "(ohif_viewer.png, ohif_overlay.png, ohif_sr.png) in DIR, then stop everything",
    )
    demo.set_defaults(func=run_demo_ohif)


def run_orthanc(args: argparse.Namespace) -> int:
    """Start, stop or upload to the Orthanc whose files live in ``--folder``."""
    orthanc = Orthanc(args.folder, args.port)
    if args.action == "start":
        orthanc.start()
        logger.info(
            "Orthanc runs in the background (pid file %s); DICOMweb: %s",
            orthanc.folder / "orthanc.pid",
            orthanc.dicomweb_url,
        )
    elif args.action == "stop":
        if not orthanc.stop():
            logger.info("no Orthanc was running from %s", orthanc.folder)
    else:
        if not args.path:
            logger.error("upload needs a folder of DICOM files")
            return 2
        counts = orthanc.upload_folder(args.path)
        logger.info("uploaded %(uploaded)s, already stored %(already_stored)s, rejected %(rejected)s", counts)
    return 0


def run_demo_ohif(args: argparse.Namespace) -> int:
    """Orthanc + the phantom demo cohort + MONAI Label on its DICOMweb + OHIF 3.13 in front of both; runs until
    interrupted, or with ``--screenshots DIR`` saves the OHIF screenshots there and stops."""
    check_installed()  # before anything starts: the message says how to install the viewer
    orthanc = Orthanc(args.folder, args.orthanc_port)
    started = not orthanc.is_up()
    if started:
        orthanc.start()
    monailabel = None
    try:
        if not (DEMO_DATASTORE / "datastore_v2.json").exists():
            from apps.cli.phantom import make_demo_datastore

            logger.info("making the phantom demo cohort at %s (first run)", DEMO_DATASTORE)
            make_demo_datastore(DEMO_DATASTORE)
        orthanc.upload_folder(DEMO_DATASTORE)
        conf = conf_dict(args.conf)
        if args.screenshots:
            return demo_screenshots(orthanc, Path(args.folder), conf, Path(args.screenshots))
        command = monailabel_command(orthanc.dicomweb_url, args.port, conf)
        monailabel = subprocess.Popen(command, env=monailabel_env(Path(args.folder) / "monailabel_cache"))
        with ViewerServer(orthanc.url, f"http://127.0.0.1:{args.port}", port=args.viewer_port) as viewer:
            logger.info(
                "OHIF %s: %s/  (segmentation mode: %s/segmentation?StudyInstanceUIDs=...; MONAI Label at "
                "%s/monailabel/ and http://127.0.0.1:%s; Ctrl-C stops everything started here)",
                OHIF_VERSION,
                viewer.url,
                viewer.url,
                viewer.url,
                args.port,
            )
            return monailabel.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if monailabel is not None and monailabel.poll() is None:
            monailabel.terminate()
            try:
                monailabel.wait(timeout=20)
            except subprocess.TimeoutExpired:
                monailabel.kill()
        if started:
            orthanc.stop()
