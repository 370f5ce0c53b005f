"""A folder holding one DICOM image (a DICOMweb series as MONAI Label downloads it) reads as that image."""

from __future__ import annotations

import numpy as np
import pytest

from lib.core.errors import BadInputError
from lib.io.reader import read_radiograph
from tests.dicom_factory import make_dx, save


def _ramp() -> np.ndarray:
    return (np.arange(40 * 30).reshape(40, 30) % 4096).astype(np.uint16)


def test_folder_with_one_dicom_reads_like_the_file(tmp_path):
    ds = make_dx(_ramp(), ImagerPixelSpacing=["0.15", "0.15"], PhotometricInterpretation="MONOCHROME1")
    path = save(ds, tmp_path / "1.2.3.dcm")
    (tmp_path / "notes.txt").write_text("not an image")  # non-DICOM files beside it are ignored
    from_folder, from_file = read_radiograph(tmp_path), read_radiograph(path)
    np.testing.assert_array_equal(from_folder.pixels, from_file.pixels)
    assert from_folder.spacing_mm == pytest.approx((0.15, 0.15))
    # MONOCHROME1: the lowest stored value is the brightest pixel after reading.
    assert from_folder.pixels[0, 0] > from_folder.pixels[-1, -1]


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(BadInputError, match="exactly one DICOM image; found 0"):
        read_radiograph(tmp_path)


def test_folder_with_several_images_is_refused(tmp_path):
    for name in ("a.dcm", "b.dcm"):
        save(make_dx(_ramp()), tmp_path / name)
    with pytest.raises(BadInputError, match="found 2 .*not a single radiograph"):
        read_radiograph(tmp_path)
