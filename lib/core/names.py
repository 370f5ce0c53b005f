"""The allow-patterns every id, tag and file name from a request must match before it reaches the file system.

A request names files indirectly: an image id becomes ``<images>/<id>.<ext>``, a label tag becomes the folder
``<labels>/<tag>``, a session id the folder ``<sessions>/<id>``. Checking each against a pattern of plain name
characters (no separator, no leading dot, bounded length) keeps every such path inside its folder, whatever the
datastore; the message shows the value cut short, so a 300-character or NUL-laden value stays readable.
"""

from __future__ import annotations

import re

from lib.core.errors import BadInputError

IMAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LABEL_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# MONAI Label names a session by uuid1: lower-case hex and dashes.
SESSION_ID = re.compile(r"[0-9a-f][0-9a-f-]{0,63}")

_RULES = {
    "image id": (IMAGE_ID, "letters, digits, '.', '_' and '-', up to 128, starting with a letter or digit"),
    "label tag": (LABEL_TAG, "letters, digits, '.', '_' and '-', up to 64, starting with a letter or digit"),
    "session id": (SESSION_ID, "the id PUT /session/ answered (lower-case hex and '-')"),
}


def is_safe_name(value: object, kind: str) -> bool:
    """Whether ``value`` is a string matching the allow-pattern of ``kind`` ("image id", "label tag", "session id")."""
    pattern, _ = _RULES[kind]
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_name(value: object, kind: str) -> str:
    """``value`` unchanged when it matches the pattern of ``kind``; else ``BadInputError`` saying what is allowed."""
    if is_safe_name(value, kind):
        return value  # type: ignore[return-value]
    _, allowed = _RULES[kind]
    shown = repr(value)
    shown = shown if len(shown) <= 80 else f"{shown[:77]}..."
    raise BadInputError(f"{kind} {shown} is not allowed; use {allowed}")
