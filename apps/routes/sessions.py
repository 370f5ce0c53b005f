"""``PUT /session/`` that unpacks an archive safely.

MONAI Label 0.8.5 hands ``?uncompress=true`` uploads to ``shutil.unpack_archive`` without a filter, so a tar member
named ``../x`` lands outside the session folder; it also keeps uploads under the client's file names and leaves them
in the temporary folder when the session cannot be made. Here uploads are saved under plain names in a private
temporary folder, bounded in count and bytes, unpacked by ``lib.io.archives.unpack_archive_safely``, and handed to
MONAI Label's ``Sessions`` as a finished file or folder (which it moves into its store); whatever is left of the
temporary copies is removed on every path. The answer carries the session's id and times, not server paths.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from fastapi import HTTPException
from monailabel.interfaces.utils.app import app_instance

from lib.core.errors import ArchiveTooLargeError, BadInputError
from lib.io.archives import unpack_archive_safely

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_COPY_CHUNK = 1 << 20


def create_session(max_files: int, max_bytes: int, files=(), uncompress: bool = False, expiry: int = 0, **_) -> dict:
    sessions = app_instance().sessions()
    if sessions is None:
        raise HTTPException(status_code=406, detail="Session Feature is Not Enabled")
    files = list(files or [])
    if not files:
        raise BadInputError("no file sent; PUT /session/ takes the volume as 'files'")
    if len(files) > max_files:
        raise ArchiveTooLargeError(f"{len(files)} files sent; a session takes at most {max_files}")
    if uncompress and len(files) != 1:
        raise BadInputError("uncompress=true takes one archive; send several files without it")
    work = Path(tempfile.mkdtemp(prefix="session-upload-"))
    try:
        saved = _save_uploads(files, work / "received", max_bytes)
        source = saved[0] if len(saved) == 1 else saved[0].parent
        if uncompress:
            unpacked = work / "unpacked"
            unpack_archive_safely(source, unpacked, max_files, max_bytes)
            source = unpacked
        session_id, info = sessions.add_session(str(source), expiry, uncompress=False)  # moves it into the store
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shown = {k: v for k, v in info.to_json().items() if k not in ("path", "image")}
    return {"session_id": session_id, "session_info": dict(shown, image=Path(info.image).name)}


def _save_uploads(files, folder: Path, max_bytes: int) -> list[Path]:
    folder.mkdir()
    saved, total = [], 0
    for index, upload in enumerate(files):
        path = folder / _plain_name(upload.filename, index)
        if path.exists():
            path = folder / f"{index}-{path.name}"
        with open(path, "wb") as out:
            while chunk := upload.file.read(_COPY_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise ArchiveTooLargeError(f"the session upload is over {max_bytes:,} bytes")
                out.write(chunk)
        saved.append(path)
    return saved


def _plain_name(filename, index: int) -> str:
    """The client's file name without folders and with only plain characters (its suffix tells the format)."""
    name = _UNSAFE_CHARS.sub("_", Path(str(filename or "")).name).lstrip(".")[-128:]
    return name or f"file{index}"
