"""The radiograph reader: real CR files from pydicom-data with pinned pixel values, and every bad-input case."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from lib.core.errors import BadInputError, ImageTooLargeError, UnsupportedImageError
from lib.io.reader import read_radiograph
from tests.dicom_factory import make_dx, pydicom_data_file, save

# --- real files -------------------------------------------------------------------------------------------


def test_monochrome1_cr_is_windowed_then_inverted_so_bone_is_bright():
    image = read_radiograph(pydicom_data_file("RG1_UNCR.dcm"))
    # RG1: 15-bit CR, MONOCHROME1, window centre 15000 / width 30000 -> window [0, 29999].
    stored = 3606  # the stored value at row 1000, column 900 of this file
    assert image.pixels.dtype == np.float32 and image.shape == (1955, 1841)
    assert image.pixels[1000, 900] == pytest.approx(1.0 - stored / 29999.0, abs=1e-6)
    assert image.metadata["PhotometricInterpretation"] == "MONOCHROME1"


def test_monochrome1_inversion_matches_the_raw_data():
    import pydicom

    raw = pydicom.dcmread(str(pydicom_data_file("RG3_UNCR.dcm"))).pixel_array.astype(float)
    image = read_radiograph(pydicom_data_file("RG3_UNCR.dcm"))
    # MONOCHROME1 stores dense tissue as low values: after reading, the two must be anti-correlated.
    assert np.corrcoef(raw.ravel()[::97], image.pixels.ravel()[::97])[0, 1] < -0.95


def test_zero_pixel_spacing_is_unknown_not_an_error():
    image = read_radiograph(pydicom_data_file("RG1_UNCR.dcm"))  # PixelSpacing is "0.000\\0.000" in this file
    assert image.spacing_mm is None and image.spacing_source == "unknown"
    assert any("spacing unknown" in w for w in image.warnings)


@pytest.mark.parametrize("compressed", ["RG1_J2KR.dcm", "RG3_J2KR.dcm"])
def test_lossless_jpeg2000_decodes_to_the_same_pixels_as_uncompressed(compressed):
    plain = read_radiograph(pydicom_data_file(compressed.replace("J2KR", "UNCR")))
    decoded = read_radiograph(pydicom_data_file(compressed))
    np.testing.assert_array_equal(decoded.pixels, plain.pixels)


def test_rgb_secondary_capture_is_converted_to_luminance():
    image = read_radiograph(pydicom_data_file("SC_rgb.dcm"))
    # Row 5 of this file is pure red (255, 0, 0): BT.601 luminance 0.299.
    assert image.pixels[5, 50] == pytest.approx(0.299, abs=1e-4)
    assert any("grey" in w for w in image.warnings)


def test_ybr_jpeg_uses_its_luminance_channel_like_the_rgb_original():
    ybr = read_radiograph(pydicom_data_file("SC_rgb_jpeg_dcmtk.dcm"))
    rgb = read_radiograph(pydicom_data_file("SC_rgb_dcmtk_+eb+cr.dcm"))
    assert np.abs(ybr.pixels - rgb.pixels).mean() < 0.02


# --- files written here -----------------------------------------------------------------------------------


def test_monochrome2_dx_with_rescale_and_window(tmp_path, ramp):
    path = save(
        make_dx(ramp, RescaleSlope=2, RescaleIntercept=-100, WindowCenter=600, WindowWidth=801), tmp_path / "a.dcm"
    )
    image = read_radiograph(path)
    value = 2 * ramp[10, 40] - 100  # modality LUT
    low = 600 - 0.5 - 400  # DICOM linear window
    assert image.pixels[10, 40] == pytest.approx(np.clip((value - low) / 800, 0, 1), abs=1e-6)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_linear_exact_window_maps_centre_plus_or_minus_half_the_width(tmp_path, ramp, photometric):
    # PS3.3 C.11.2.1.3.2: LINEAR_EXACT maps [c - w/2, c + w/2] = [95, 105] onto the output range; the LINEAR formula
    # (c - 0.5, w - 1) would map [95, 104] instead and put the centre at 5/9, not 1/2.
    ds = make_dx(
        ramp, WindowCenter=100, WindowWidth=10, VOILUTFunction="LINEAR_EXACT", PhotometricInterpretation=photometric
    )
    image = read_radiograph(save(ds, tmp_path / "exact.dcm"))
    expected = np.clip((ramp.astype(np.float64) - 95) / 10, 0, 1)
    if photometric == "MONOCHROME1":
        expected = 1 - expected
    assert image.pixels.dtype == np.float32
    np.testing.assert_allclose(image.pixels, expected, atol=1e-6)
    assert image.pixels[0, 10] == pytest.approx(0.5, abs=1e-6)  # the stored value 100 is the centre, either way


def test_bits_above_bits_stored_are_masked(tmp_path, ramp):
    noisy = ramp | 0xF000  # garbage in the 4 unused high bits
    clean = read_radiograph(save(make_dx(ramp, WindowCenter=1000, WindowWidth=2000), tmp_path / "c.dcm"))
    dirty = read_radiograph(save(make_dx(noisy, WindowCenter=1000, WindowWidth=2000), tmp_path / "d.dcm"))
    np.testing.assert_array_equal(clean.pixels, dirty.pixels)


def test_imager_spacing_divided_by_magnification(tmp_path, ramp):
    ds = make_dx(ramp, ImagerPixelSpacing=[0.15, 0.15], EstimatedRadiographicMagnificationFactor=1.2)
    image = read_radiograph(save(ds, tmp_path / "m.dcm"))
    assert image.spacing_mm == pytest.approx((0.125, 0.125))
    assert image.spacing_source == "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
    plain = read_radiograph(save(make_dx(ramp, ImagerPixelSpacing=[0.14, 0.16]), tmp_path / "p.dcm"))
    assert plain.spacing_mm == pytest.approx((0.14, 0.16)) and plain.spacing_source == "ImagerPixelSpacing"


def test_png_16bit_and_nifti_slice(tmp_path, ramp):
    Image.fromarray(ramp.astype(np.uint16)).save(tmp_path / "r.png")
    png = read_radiograph(tmp_path / "r.png")
    assert png.shape == ramp.shape and png.spacing_mm is None
    assert png.pixels[0, 79] > png.pixels[0, 0]  # bright stays bright
    volume = ramp.T[:, :, None].astype(np.float32)  # NIfTI is [x, y, z]
    nib.save(nib.Nifti1Image(volume, np.diag([0.2, 0.3, 1, 1])), tmp_path / "r.nii.gz")
    nifti = read_radiograph(tmp_path / "r.nii.gz")
    assert nifti.shape == ramp.shape and nifti.spacing_mm == pytest.approx((0.3, 0.2))
    assert np.corrcoef(nifti.pixels.ravel(), ramp.ravel())[0, 1] > 0.99


# --- bad input --------------------------------------------------------------------------------------------


def test_text_file_is_not_an_image(tmp_path):
    (tmp_path / "notes.txt").write_text("not a radiograph")
    with pytest.raises(BadInputError, match="not a radiograph file"):
        read_radiograph(tmp_path / "notes.txt")
    (tmp_path / "fake.dcm").write_text("hello")
    with pytest.raises(BadInputError, match="not a DICOM file|not a readable DICOM"):
        read_radiograph(tmp_path / "fake.dcm")


def test_structured_report_has_no_pixel_data(tmp_path, ramp):
    ds = make_dx(ramp, SOPClassUID="1.2.840.10008.5.1.4.1.1.88.11", Modality="SR")
    del ds.PixelData
    with pytest.raises(UnsupportedImageError, match="no pixel data.*Basic Text SR"):
        read_radiograph(save(ds, tmp_path / "sr.dcm"))


def test_multiframe_and_volumes_are_refused(tmp_path, ramp):
    frames = np.stack([ramp] * 3)
    ds = make_dx(ramp, NumberOfFrames=3)
    ds.PixelData = frames.astype(np.uint16).tobytes()
    with pytest.raises(UnsupportedImageError, match="multi-frame DICOM with 3 frames"):
        read_radiograph(save(ds, tmp_path / "mf.dcm"))
    with pytest.raises(UnsupportedImageError, match="modality CT is a slice of a 3D volume"):
        read_radiograph(save(make_dx(ramp, Modality="CT"), tmp_path / "ct.dcm"))
    nib.save(nib.Nifti1Image(np.zeros((80, 64, 5), np.float32), np.eye(4)), tmp_path / "v.nii.gz")
    with pytest.raises(UnsupportedImageError, match="80x64x5 is a 3D volume"):
        read_radiograph(tmp_path / "v.nii.gz")


def test_truncated_dicom_and_png(tmp_path, ramp):
    whole = save(make_dx(ramp, WindowCenter=500, WindowWidth=1000), tmp_path / "whole.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(whole[: len(whole) - 3000])
    with pytest.raises(BadInputError, match="cut.dcm") as caught:
        read_radiograph(tmp_path / "cut.dcm")
    assert not isinstance(caught.value, UnsupportedImageError)  # a damaged file is a 400, not an unsupported kind
    Image.fromarray((ramp // 16).astype(np.uint8)).save(tmp_path / "p.png")
    data = (tmp_path / "p.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="truncated or corrupt"):
        read_radiograph(tmp_path / "cut.png")


def test_oversized_image_refused_before_decoding(tmp_path, ramp):
    ds = make_dx(ramp)
    ds.Rows, ds.Columns = 40000, 40000  # header claims 1.6 gigapixels; the data are tiny
    with pytest.raises(ImageTooLargeError, match="40000 x 40000 = 1,600,000,000 pixels, over the limit of 50,000,000"):
        read_radiograph(save(ds, tmp_path / "huge.dcm"))
    with pytest.raises(ImageTooLargeError, match="over the limit of 1,000"):
        read_radiograph(save(make_dx(ramp), tmp_path / "small.dcm"), max_pixels=1000)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        read_radiograph(tmp_path / "absent.dcm")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(BadInputError, match="empty"):
        read_radiograph(tmp_path / "empty.png")


def test_png_decompression_bombs_are_too_large_not_corrupt(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    for width, height in ((20000, 20000), (10000, 10000)):  # past PIL's bomb error, past its warning
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        path = tmp_path / f"bomb{width}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)))
        with pytest.raises(ImageTooLargeError):
            read_radiograph(path, max_pixels=400_000_000)
