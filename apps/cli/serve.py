"""``python main.py serve``: MONAI Label on this app (127.0.0.1 by default), making the demo datastore on first run."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

from apps.cli.common import conf_dict
from apps.paths import APP_DIR, DEMO_DATASTORE
from lib.core.settings import parse_settings

logger = logging.getLogger("main")


def add_parser(sub) -> None:
    serve = sub.add_parser("serve", help="start the MONAI Label server on this app")
    serve.add_argument("--studies", help=f"datastore folder or DICOMweb URL (default: demo at {DEMO_DATASTORE})")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting; see 'settings'")
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start MONAI Label on this app (127.0.0.1 by default), making the demo datastore on first run."""
    conf = conf_dict(args.conf)
    parse_settings(conf)  # refuse a bad --conf here, with its message, before the server starts
    studies = str(args.studies) if args.studies else str(DEMO_DATASTORE)
    if not args.studies and not (DEMO_DATASTORE / "datastore_v2.json").exists():
        from apps.cli.phantom import make_demo_datastore

        logger.info("making the phantom demo datastore at %s (first run)", DEMO_DATASTORE)
        make_demo_datastore(DEMO_DATASTORE)
    command = [
        sys.executable,
        "-m",
        "monailabel.main",
        "start_server",
        "--app",
        str(APP_DIR),
        "--studies",
        studies,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    for key, value in conf.items():
        command += ["--conf", key, value]
    env = dict(os.environ)
    env.setdefault("MONAI_LABEL_TRACKING_ENABLED", "false")
    logger.info("serving on http://%s:%s (studies: %s)", args.host, args.port, studies)
    return subprocess.call(command, env=env)
