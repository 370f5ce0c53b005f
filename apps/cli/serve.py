"""``python main.py serve``: MONAI Label on this app (127.0.0.1 by default), making the demo datastore on first run.

The command hands its process over to the server (``os.execve``): no parent waits beside it, signals sent to the
process (or its group) reach the server itself, and its exit status is the command's. Until then it stays light: the
parser and this module import no torch and no MONAI Label, only the demo datastore's first run does.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from apps.cli.common import conf_dict
from apps.paths import DEMO_DATASTORE

logger = logging.getLogger("main")


def add_parser(sub) -> None:
    serve = sub.add_parser("serve", help="start the MONAI Label server on this app")
    serve.add_argument("--studies", help=f"datastore folder or DICOMweb URL (default: demo at {DEMO_DATASTORE})")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); any other needs --conf auth_token_file FILE",
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--conf", nargs=2, action="append", metavar=("KEY", "VALUE"), help="app setting; see 'settings'")
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replace this process with MONAI Label's server on this app; returns only by raising (a bad ``--conf``)."""
    from apps.gate import policy_from, refuse_open_network
    from apps.ops.server_process import monailabel_command
    from lib.core.settings import parse_settings

    conf = conf_dict(args.conf)
    settings = parse_settings(conf)  # refuse a bad --conf here, with its message, before the server starts
    # The app refuses it again at start-up; here the message comes before any datastore is made.
    refuse_open_network(args.host, policy_from(settings, args.host, external_auth=monailabel_auth_enabled()))
    studies = str(args.studies) if args.studies else str(DEMO_DATASTORE)
    if not args.studies and not (DEMO_DATASTORE / "datastore_v2.json").exists():
        from apps.cli.phantom import make_demo_datastore

        logger.info("making the phantom demo datastore at %s (first run)", DEMO_DATASTORE)
        make_demo_datastore(DEMO_DATASTORE)
    command = monailabel_command(studies, args.port, conf, host=args.host)
    env = dict(os.environ)
    env.setdefault("MONAI_LABEL_TRACKING_ENABLED", "false")
    logger.info("serving on http://%s:%s (studies: %s)", args.host, args.port, studies)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)


def monailabel_auth_enabled() -> bool:
    """MONAI Label's own (keycloak) authentication, from its environment variable, without importing MONAI Label."""
    return os.environ.get("MONAI_LABEL_AUTH_ENABLE", "").strip().lower() in ("1", "true", "yes", "on")
