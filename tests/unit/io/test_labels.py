"""Label maps on disk: W x H x 1 geometry with spacing, atomic writes, and remapping of client segment orders."""

import nibabel as nib
import numpy as np
import pytest

from lib.anatomy.names import LEVEL_LABELS, segment_bodies
from lib.core.errors import BadInputError
from lib.io.labels import (
    check_label_matches,
    distinct_label_values,
    read_label_map,
    remap_by_name,
    write_label_map,
)


@pytest.fixture
def label():
    values = np.zeros((30, 20), np.uint8)
    values[2:6, 3:9] = LEVEL_LABELS["C2"]
    values[10:14, 3:9] = LEVEL_LABELS["C3"]
    values[:, 12:14] = LEVEL_LABELS["spinal_canal"]
    return values


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_round_trip_keeps_values_and_orientation(tmp_path, label, suffix):
    path = write_label_map(tmp_path / f"l{suffix}", label, (0.2, 0.15))
    np.testing.assert_array_equal(read_label_map(path), label)
    assert not list(tmp_path.glob(".tmp-*"))  # the temporary file was renamed, not left behind


def test_nifti_is_w_by_h_by_1_with_spacing_like_slicer(tmp_path, label):
    image = nib.load(str(write_label_map(tmp_path / "l.nii.gz", label, (0.2, 0.15))))
    assert image.shape == (20, 30, 1)
    assert image.header.get_zooms()[:2] == pytest.approx((0.15, 0.2))


def test_remap_by_name_from_a_slicer_segment_order(label):
    # Slicer numbered the segments in its own order: 1 = canal, 2 = C3, 3 = C2.
    client = np.select([label == 7, label == 2, label == 1], [1, 2, 3], 0)
    remapped = remap_by_name(client, {1: "spinal_canal", 2: "C3", 3: "c2"})
    np.testing.assert_array_equal(remapped, label)


def test_remap_refuses_unknown_and_unnamed_labels(label):
    with pytest.raises(BadInputError, match=r"label names \['C8'\] are not known"):
        remap_by_name(label, {1: "C8"})
    with pytest.raises(BadInputError, match=r"label values \[2, 7\] have no name"):
        remap_by_name(label, {1: "C2"})


def test_label_checks_against_the_image(label):
    with pytest.raises(BadInputError, match="is 20 x 30 .* but the image is 21 x 30"):
        check_label_matches(label, (30, 21))
    with pytest.raises(BadInputError, match="empty"):
        check_label_matches(np.zeros_like(label), label.shape)
    with pytest.raises(BadInputError, match=r"label ids \[9\]"):
        check_label_matches(np.where(label == 1, 9, label), label.shape)


def test_volume_labels_are_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 3), np.uint8), np.eye(4)), tmp_path / "v.nii.gz")
    with pytest.raises(BadInputError, match="4x5x3 is not a 2D map"):
        read_label_map(tmp_path / "v.nii.gz")


def test_segment_bodies():
    assert segment_bodies("C5/6") == ("C5", "C6")
    with pytest.raises(BadInputError, match="unknown segment 'C7/T1'"):
        segment_bodies("C7/T1")


def test_pipeline_finding_overlays_are_dropped_not_refused(label):
    from lib.io.labels import drop_findings

    with_finding = label.copy()
    with_finding[20:22, 3:9] = 9  # "C3/4 compression" painted by the pipeline
    names = {1: "C2", 2: "C3", 7: "spinal_canal", 9: "C3/4 compression"}
    cleaned, kept, dropped = drop_findings(with_finding, names)
    assert dropped == ["C3/4 compression"] and 9 not in kept
    np.testing.assert_array_equal(remap_by_name(cleaned, kept), label)


def _png_header(path, width, height):
    """A PNG that declares ``width x height`` and holds almost nothing: what a decompression bomb looks like."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)))
    return path


def test_oversized_labels_are_refused_from_the_header(tmp_path):
    from lib.core.errors import ImageTooLargeError
    from lib.io.labels import check_label_pixels

    image = nib.Nifti1Image(np.zeros((1, 1, 1), np.uint8), np.eye(4))
    image.header.set_data_shape((20000, 20000, 1))  # the header claims 400 M voxels; the file holds one
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 1), np.uint8), np.eye(4)), tmp_path / "small.nii.gz")
    (tmp_path / "huge.nii").write_bytes(image.header.binaryblock + b"\x00" * 8)
    with pytest.raises(ImageTooLargeError, match="20000 x 20000 x 1 = 400,000,000 voxels"):
        check_label_pixels(tmp_path / "huge.nii", 50_000_000)
    with pytest.raises(ImageTooLargeError):
        check_label_pixels(_png_header(tmp_path / "bomb.png", 20000, 20000), 50_000_000)
    with pytest.raises(ImageTooLargeError):
        check_label_pixels(_png_header(tmp_path / "big.png", 10000, 6000), 50_000_000)
    check_label_pixels(tmp_path / "small.nii.gz", 50_000_000)
    with pytest.raises(BadInputError, match="truncated or corrupt"):
        (tmp_path / "junk.nrrd").write_bytes(b"not a header")
        check_label_pixels(tmp_path / "junk.nrrd", 50_000_000)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.float32])
def test_distinct_label_values_agree_with_unique_whatever_the_type(dtype):
    rng = np.random.default_rng(0)
    values = rng.choice([0, 2, 5, 7], size=(40, 30)).astype(dtype)
    assert distinct_label_values(values) == {0, 2, 5, 7} == set(np.unique(values).astype(int).tolist())
    # values a count cannot index (negative, beyond 16 bits) still come back, through the sort
    assert distinct_label_values(np.array([[-1, 3], [70000, 3]])) == {-1, 3, 70000}
    assert distinct_label_values(np.zeros((0, 4), np.uint8)) == set()
