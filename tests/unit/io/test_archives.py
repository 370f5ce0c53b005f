import io
import tarfile
import zipfile

import pytest

from lib.core.errors import ArchiveTooLargeError, BadInputError, UnsupportedImageError
from lib.io.archives import unpack_archive_safely


def _tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_plain_members_are_unpacked(tmp_path):
    archive = _tar(tmp_path / "ok.tar.gz", [_file("volume.nrrd", b"abc"), _file("sub/b.dcm", b"de")])
    assert unpack_archive_safely(archive, tmp_path / "out", 10, 100) == 2
    assert (tmp_path / "out" / "volume.nrrd").read_bytes() == b"abc"
    assert (tmp_path / "out" / "sub" / "b.dcm").read_bytes() == b"de"


@pytest.mark.parametrize(
    "member",
    [_file("../x"), _file("/abs/x"), _link("ln", "/etc/passwd"), _link("hard", "../../x", tarfile.LNKTYPE)],
    ids=["dotdot", "absolute", "symlink", "hardlink"],
)
def test_escaping_members_and_links_are_refused_and_nothing_is_written(tmp_path, member):
    archive = _tar(tmp_path / "bad.tar", [_file("first.txt"), member], mode="w")
    out = tmp_path / "deep" / "out"
    with pytest.raises(BadInputError):
        unpack_archive_safely(archive, out, 10, 100)
    assert list(out.iterdir()) == [] and not (tmp_path / "deep" / "x").exists() and not (tmp_path / "x").exists()


def test_devices_are_refused(tmp_path):
    info = tarfile.TarInfo("dev")
    info.type = tarfile.CHRTYPE
    with pytest.raises(BadInputError, match="link or device"):
        unpack_archive_safely(_tar(tmp_path / "d.tar", [(info, None)], "w"), tmp_path / "out", 10, 100)


def test_member_count_and_unpacked_size_are_capped(tmp_path):
    many = _tar(tmp_path / "many.tar.gz", [_file(f"f{i}") for i in range(6)])
    with pytest.raises(ArchiveTooLargeError, match="more than 5 members"):
        unpack_archive_safely(many, tmp_path / "a", 5, 10_000)
    big = _tar(tmp_path / "big.tar.gz", [_file("zeros", bytes(5000))])
    with pytest.raises(ArchiveTooLargeError, match="more than 4,999 bytes"):
        unpack_archive_safely(big, tmp_path / "b", 5, 4999)
    assert not (tmp_path / "b" / "zeros").exists()


def test_zip_members_are_checked_the_same_way(tmp_path):
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a/b.dcm", b"xyz")
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil", b"xyz")
    assert unpack_archive_safely(good, tmp_path / "g", 5, 100) == 1
    assert (tmp_path / "g" / "a" / "b.dcm").read_bytes() == b"xyz"
    with pytest.raises(BadInputError, match="outside its folder"):
        unpack_archive_safely(bad, tmp_path / "z", 5, 100)
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", bytes(100_000))
    with pytest.raises(ArchiveTooLargeError):
        unpack_archive_safely(tmp_path / "bomb.zip", tmp_path / "y", 5, 10_000)


def test_other_files_and_corrupt_archives_are_refused(tmp_path):
    (tmp_path / "plain.nrrd").write_bytes(b"NRRD0004\n")
    with pytest.raises(UnsupportedImageError):
        unpack_archive_safely(tmp_path / "plain.nrrd", tmp_path / "o", 5, 100)
    whole = _tar(tmp_path / "t.tar.gz", [_file("zeros", bytes(20000))]).read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BadInputError):
        unpack_archive_safely(tmp_path / "cut.tar.gz", tmp_path / "c", 5, 100_000)
