"""``python main.py settings``: every ``--conf`` setting with its default and meaning (``lib.core.settings``)."""

from __future__ import annotations

import argparse

from lib.core.settings import settings_help


def add_parser(sub) -> None:
    settings = sub.add_parser("settings", help="list the --conf settings with defaults")
    settings.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print every --conf setting with its default and meaning."""
    for key, (default, meaning) in settings_help().items():
        print(f"{key:22s} {default:28s} {meaning}")
    return 0
