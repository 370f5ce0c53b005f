"""One result folder per film, keyed so a rerun knows what is done and two runs never do the same film twice.

Layout under the run's output folder:
- ``results/<key>/``: the pipeline's files for that film (JSON, overlay, label maps, DICOM objects);
- ``done/<key>.json``: the film's record, written atomically last: a film is done exactly when this file exists;
- ``claims/<key>``: a folder made with ``os.mkdir`` (atomic on every local file system, and on NFS v3+) by the
  worker that takes the film, holding ``owner.json`` (host, pid, time); removed when the film is done or failed;
- ``failed/<key>.json``: why a film failed (kept for the report; the film is tried again by the next run).

A claim whose owner process is gone (same host, pid not alive) or older than ``stale_after_s`` is taken over, so a
run killed with ``kill -9`` leaves nothing that blocks the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Optional

from lib.core.atomic import write_json_atomic

KEY_PATTERN_NOTE = "a SOPInstanceUID or 'sha256-' and 32 hex digits"
STALE_AFTER_S = 6 * 3600.0  # a claim older than this is taken over even when its owner looks alive


def file_key(path: Path) -> str:
    """The film's key: its SOPInstanceUID for DICOM, else the first 128 bits of the file's SHA-256 (so a renamed or
    copied file is still the same film)."""
    from lib.io.reader import sniff_format

    path = Path(path)
    if sniff_format(path) == "dicom":
        import pydicom

        uid = str(
            pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).get(
                "SOPInstanceUID", ""
            )
        )
        if uid:
            return uid
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"sha256-{digest.hexdigest()[:32]}"


class ResultStore:
    """The bookkeeping of one output folder (see the module doc)."""

    def __init__(self, out_dir: Path, stale_after_s: float = STALE_AFTER_S):
        self.root = Path(out_dir)
        self.stale_after_s = stale_after_s
        for name in ("results", "done", "claims", "failed"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def result_dir(self, key: str) -> Path:
        return self.root / "results" / _safe(key)

    def is_done(self, key: str) -> bool:
        return (self.root / "done" / f"{_safe(key)}.json").is_file()

    def done_record(self, key: str) -> Optional[dict]:
        path = self.root / "done" / f"{_safe(key)}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def claim(self, key: str) -> bool:
        """Take the film for this process; False when it is done or another live worker holds it."""
        if self.is_done(key):
            return False
        folder = self.root / "claims" / _safe(key)
        for _ in range(2):  # a second try after taking over a stale claim
            try:
                folder.mkdir()
            except FileExistsError:
                if not self._stale(folder):
                    return False
                shutil.rmtree(folder, ignore_errors=True)
                continue
            write_json_atomic(
                {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}, folder / "owner.json"
            )
            if self.is_done(key):  # finished by another run between the check and the claim
                shutil.rmtree(folder, ignore_errors=True)
                return False
            return True
        return False

    def finish(self, key: str, record: dict) -> None:
        """The film is done: its record written atomically, any earlier failure forgotten, the claim released."""
        write_json_atomic(record, self.root / "done" / f"{_safe(key)}.json")
        (self.root / "failed" / f"{_safe(key)}.json").unlink(missing_ok=True)
        self.release(key)

    def fail(self, key: str, record: dict) -> None:
        write_json_atomic(record, self.root / "failed" / f"{_safe(key)}.json")
        self.release(key)

    def release(self, key: str) -> None:
        shutil.rmtree(self.root / "claims" / _safe(key), ignore_errors=True)

    def done_records(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.root / "done").glob("*.json"))]

    def failed_records(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.root / "failed").glob("*.json"))]

    def _stale(self, folder: Path) -> bool:
        try:
            owner = json.loads((folder / "owner.json").read_text())
        except (OSError, ValueError):
            # Claimed a moment ago and the owner not yet written, or the owner died in between: stale only when old.
            try:
                return time.time() - folder.stat().st_mtime > 60
            except OSError:
                return True
        if time.time() - float(owner.get("since", 0)) > self.stale_after_s:
            return True
        if owner.get("host") == socket.gethostname():
            return not _alive(int(owner.get("pid", -1)))
        return False


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process with that pid: alive as far as we can tell
        return True
    return True


def _safe(key: str) -> str:
    """Keys are UIDs (digits and dots) or ``sha256-<hex>``; anything else could escape the folder."""
    if not key or not all(c.isalnum() or c in ".-" for c in key) or key.startswith(".") or len(key) > 128:
        raise ValueError(f"film key {key!r} is not {KEY_PATTERN_NOTE}")
    return key
