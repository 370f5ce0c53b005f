"""``python main.py <command>``: a thin command line over the ``lib`` APIs and the MONAI Label server.

This module holds the parser; each command lives in the module that implements it, which registers its subparser
with ``add_parser(subparsers)`` and runs it with the ``func`` it sets as a default. Building the parser imports
every command module, so their top-level imports stay light (no torch, no MONAI Label): what a command needs is
imported when it runs. Errors the user can fix (``lib.core.errors.AppError``) are printed as one line and exit with
status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from apps.cli import (
    batch_infer,
    benchmarks,
    evaluate,
    import_labels,
    phantom,
    predict,
    serve,
    settings,
    study,
    train,
    viewers,
    watch,
)
from lib.core.errors import AppError

# In the order ``--help`` lists them.
COMMANDS = (
    serve,
    phantom,
    train,
    evaluate,
    study,
    benchmarks,
    predict,
    batch_infer,
    watch,
    import_labels,
    viewers,
    settings,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="Cervical cord compression on lateral radiographs: server, phantom data, training and evaluation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
