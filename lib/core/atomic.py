"""Atomic file writes: a temporary file in the target's folder, then a rename, so no reader ever sees half a file.

Labels, indexes, reports, cards and checkpoints go through here; a crash mid-write leaves the old file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path


def replace_atomic(path: Path, write) -> None:
    """Call ``write(binary file)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(text: str, path) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    replace_atomic(Path(path), lambda f: f.write(text.encode("utf-8")))


def write_json_atomic(obj, path) -> None:
    """Write JSON atomically; NaN or infinity is refused rather than written."""
    write_text_atomic(json.dumps(obj, indent=2, allow_nan=False), path)


def write_csv_atomic(path, header: list, rows: list) -> None:
    """A CSV (header, then rows; cells quoted only where needed), written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(buffer.getvalue(), path)
