"""Unpacking an uploaded archive (a session's volume sent as tar or zip) without letting it leave its folder.

``shutil.unpack_archive`` without a filter follows member names such as ``../x`` or ``/etc/x`` and recreates links
and devices. Here every member is checked before anything is written: a tar member must pass Python's own
``tarfile.data_filter`` (no absolute or escaping names, no links out, no devices) and be a plain file or folder; a
zip member must have a relative name without ``..`` and not be a link. The member count and the unpacked size
(the headers' sizes, which bound what extraction writes) are capped, so a small upload cannot fill the disk.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from lib.core.errors import ArchiveTooLargeError, BadInputError, UnsupportedImageError


def unpack_archive_safely(archive: str | Path, dest: str | Path, max_members: int, max_bytes: int) -> int:
    """Unpack a tar (plain or compressed) or zip ``archive`` into the folder ``dest``; returns the member count.

    Raises ``BadInputError`` for a member that is a link, a device or would land outside ``dest``, or a corrupt
    archive; ``ArchiveTooLargeError`` past ``max_members`` members or ``max_bytes`` unpacked bytes;
    ``UnsupportedImageError`` when the file is neither tar nor zip. Nothing is written unless every member passes.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            return _unpack_zip(archive, dest, max_members, max_bytes)
        if tarfile.is_tarfile(archive):
            return _unpack_tar(archive, dest, max_members, max_bytes)
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise BadInputError(f"the archive is truncated or corrupt ({type(exc).__name__})") from None
    raise UnsupportedImageError("the upload is not a tar or zip archive; send it with uncompress=false")


def _unpack_tar(archive: Path, dest: Path, max_members: int, max_bytes: int) -> int:
    members, total = [], 0
    with tarfile.open(archive) as tar:
        for member in tar:  # read lazily: a bomb of tiny members stops at the cap, not at its end
            if len(members) >= max_members:
                raise ArchiveTooLargeError(f"the archive holds more than {max_members} members")
            if not (member.isfile() or member.isdir()):
                raise BadInputError(f"archive member {_shown(member.name)} is a link or device; files only")
            if PurePosixPath(member.name).is_absolute():  # data_filter would strip the '/'; refuse it outright
                raise BadInputError(f"archive member {_shown(member.name)} has an absolute name")
            try:
                tarfile.data_filter(member, str(dest))
            except tarfile.FilterError as exc:
                raise BadInputError(f"archive member {_shown(member.name)} is refused ({type(exc).__name__})") from None
            total += member.size
            if total > max_bytes:
                raise ArchiveTooLargeError(f"the archive unpacks to more than {max_bytes:,} bytes")
            members.append(member)
        tar.extractall(dest, members=members, filter="data")
    return len(members)


def _unpack_zip(archive: Path, dest: Path, max_members: int, max_bytes: int) -> int:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > max_members:
            raise ArchiveTooLargeError(f"the archive holds more than {max_members} members")
        for member in members:
            name = PurePosixPath(member.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or ":" in member.filename:
                raise BadInputError(f"archive member {_shown(member.filename)} would land outside its folder")
            if stat.S_ISLNK(member.external_attr >> 16):
                raise BadInputError(f"archive member {_shown(member.filename)} is a link; files only")
        # zipfile reads no more than a member's declared size, so the declared sizes bound what is written.
        if sum(m.file_size for m in members) > max_bytes:
            raise ArchiveTooLargeError(f"the archive unpacks to more than {max_bytes:,} bytes")
        zf.extractall(dest)
    return len(members)


def _shown(name: str) -> str:
    text = repr(name)
    return text if len(text) <= 80 else f"{text[:77]}..."
