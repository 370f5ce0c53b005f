"""Messages sent to a client name no server path: a path tells an attacker what exists where.

The app's own messages name files by what the client sent (``upload X``, ``label for X``); this is the net under
them, for messages built by libraries (ITK, pydicom, MONAI Label) that quote the temporary copy of an upload or a
file in the datastore.
"""

from __future__ import annotations

import re
from typing import Iterable

SERVER_PATH = "<server path>"
UPLOAD = "<upload>"
# The names ``tempfile`` gives: "tmp" and 8 characters of its alphabet, with the upload's own suffix after them.
_TEMP_NAME = re.compile(r"\btmp[a-z0-9_]{8}(?:\.[A-Za-z0-9]+)*")
_PATH_TAIL = r"[^\s'\",;:)\]]*"


def redact_paths(text: str, roots: Iterable[str]) -> str:
    """``text`` with every path under one of ``roots`` replaced by ``<server path>`` and temporary file names by
    ``<upload>``; roots that are empty or ``/`` are skipped (they would swallow every slash)."""
    kept = sorted({str(r).rstrip("/") for r in roots if str(r).strip().rstrip("/")}, key=len, reverse=True)
    for root in kept:
        text = re.sub(re.escape(root) + r"(?=/|\b|$)" + _PATH_TAIL, SERVER_PATH, text)
    return _TEMP_NAME.sub(UPLOAD, text)
