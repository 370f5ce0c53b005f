"""``python main.py orthanc start|stop|upload`` and ``python main.py demo-ohif``: OHIF, Orthanc and this app together.

The demo starts Orthanc (loopback only), uploads the phantom demo cohort's DICOM files, and serves this app on
Orthanc's DICOMweb so the OHIF viewer MONAI Label ships at ``/ohif/`` shows the studies and the pipeline model.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from apps.orthanc import DEFAULT_HTTP_PORT, Orthanc

logger = logging.getLogger(__name__)

APP_DIR = Path(__file__).resolve().parents[1]
ORTHANC_DIR = APP_DIR / "runs" / "orthanc"
DEMO_DATASTORE = APP_DIR / "data" / "demo"


def monailabel_command(studies_url: str, port: int, conf: dict[str, str] | None = None,
                       host: str = "127.0.0.1") -> list[str]:
    """MONAI Label's own start command on this app (a URL is passed as is: ``serve`` takes a folder path)."""
    command = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(APP_DIR),
               "--studies", studies_url, "--host", host, "--port", str(port)]
    for key, value in (conf or {}).items():
        command += ["--conf", key, value]
    return command


def monailabel_env(cache_dir: Path) -> dict[str, str]:
    """Environment for a server on DICOMweb: its cache under ``cache_dir``, no tracking, no start-up scoring race."""
    env = dict(os.environ)
    env.setdefault("MONAI_LABEL_TRACKING_ENABLED", "false")
    env["MONAI_LABEL_DICOMWEB_CACHE_PATH"] = str(cache_dir)
    env["MONAI_LABEL_DICOMWEB_CONVERT_TO_NIFTI"] = "false"  # the datastore keeps DICOM; say so to MONAI Label too
    return env


def cmd_orthanc(args: argparse.Namespace) -> int:
    """Start, stop or upload to the Orthanc whose files live in ``--folder``."""
    orthanc = Orthanc(args.folder, args.port)
    if args.action == "start":
        orthanc.start()
        logger.info("Orthanc runs in the background (pid file %s); DICOMweb: %s", orthanc.folder / "orthanc.pid",
                    orthanc.dicomweb_url)
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


def cmd_demo_ohif(args: argparse.Namespace) -> int:
    """Orthanc + the phantom demo cohort + MONAI Label on its DICOMweb; runs until interrupted."""
    orthanc = Orthanc(args.folder, args.orthanc_port)
    started = not orthanc.is_up()
    if started:
        orthanc.start()
    try:
        if not (DEMO_DATASTORE / "datastore_v2.json").exists():
            from apps.cohort import make_demo_datastore

            logger.info("making the phantom demo cohort at %s (first run)", DEMO_DATASTORE)
            make_demo_datastore(DEMO_DATASTORE)
        orthanc.upload_folder(DEMO_DATASTORE)
        conf = {key: value for key, value in (args.conf or [])}
        command = monailabel_command(orthanc.dicomweb_url, args.port, conf)
        logger.info("OHIF: http://127.0.0.1:%s/ohif/  (Ctrl-C stops MONAI Label%s)", args.port,
                    " and Orthanc" if started else "")
        return subprocess.call(command, env=monailabel_env(Path(args.folder) / "monailabel_cache"))
    except KeyboardInterrupt:
        return 0
    finally:
        if started:
            orthanc.stop()


def add_commands(sub) -> None:
    """Register ``orthanc`` and ``demo-ohif`` on the main parser's subcommands."""
    orthanc = sub.add_parser("orthanc", help="start, stop or upload DICOM to a loopback-only Orthanc (DICOMweb)")
    orthanc.add_argument("action", choices=("start", "stop", "upload"))
    orthanc.add_argument("path", nargs="?", type=Path, help="upload: folder of DICOM files (searched recursively)")
    orthanc.add_argument("--folder", type=Path, default=ORTHANC_DIR, help=f"configuration and storage (default {ORTHANC_DIR})")
    orthanc.add_argument("--port", type=int, default=DEFAULT_HTTP_PORT, help="HTTP port on 127.0.0.1 (default 8042)")
    orthanc.set_defaults(func=cmd_orthanc)

    demo = sub.add_parser("demo-ohif", help="Orthanc + phantom demo studies + MONAI Label; prints the OHIF URL")
    demo.add_argument("--port", type=int, default=8000, help="MONAI Label port on 127.0.0.1 (default 8000)")
    demo.add_argument("--orthanc-port", type=int, default=DEFAULT_HTTP_PORT, help="Orthanc HTTP port (default 8042)")
    demo.add_argument("--folder", type=Path, default=ORTHANC_DIR, help="Orthanc storage and the server's DICOM cache")
    demo.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting, e.g. model_dir")
    demo.set_defaults(func=cmd_demo_ohif)


class DicomwebServer:
    """MONAI Label on this app and a DICOMweb URL as its own process on a free loopback port (tests, screenshots)."""

    def __init__(self, studies_url: str, folder: Path, conf: dict[str, str] | None = None):
        from apps.server_process import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(folder) / f"monailabel-{self.port}.log"
        self._log = open(self.log_path, "w")
        env = dict(monailabel_env(Path(folder) / "cache"), MONAI_LABEL_SESSIONS="false")
        self.process = subprocess.Popen(monailabel_command(studies_url, self.port, conf), cwd=APP_DIR,
                                        stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self, timeout_s: float = 180.0) -> dict:
        from apps.server_process import LiveServer

        return LiveServer.wait_ready(self, timeout_s)  # same polling of /info/, same attributes

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text()[-chars:]

    def stop(self) -> None:
        from apps.server_process import LiveServer

        LiveServer.stop(self)
