"""SEG and Secondary Capture built on a DX radiograph: same study, new series, the source referenced, and the
label map read back exactly with its segment names (through the ``lib.io.dicom_export`` import path)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from lib.core.errors import BadInputError
from lib.io.dicom_export import SECONDARY_CAPTURE, label_seg, overlay_secondary_capture, read_seg
from tests.dicom_factory import make_dx, save


@pytest.fixture
def source():
    ds = make_dx(np.zeros((60, 40), np.uint16), ImagerPixelSpacing=["0.2", "0.2"])
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.StudyDate = "Phantom^A", "20240101"
    return ds  # no ImagePositionPatient, no FrameOfReferenceUID, no Type 2 study attributes: as a sparse DX


def _label() -> np.ndarray:
    label = np.zeros((60, 40), np.uint8)
    label[5:15, 10:30] = 4
    label[20:30, 10:30] = 11
    label[40:45, 2:6] = 7
    return label


def test_seg_round_trips_values_and_names_through_a_file(source, tmp_path):
    names = {4: "C5", 7: "spinal_canal", 11: "C5/6 compression p=0.93"}
    seg = label_seg(source, _label(), names, "pipeline findings")
    save(seg, tmp_path / "seg.dcm")
    read = pydicom.dcmread(str(tmp_path / "seg.dcm"))
    numbers, back = read_seg(read)
    assert back == {1: "C5", 2: "spinal_canal", 3: "C5/6 compression p=0.93"}  # segments 1..N, in value order
    values = {1: 4, 2: 7, 3: 11}
    np.testing.assert_array_equal(np.vectorize(lambda n: values.get(n, 0))(numbers), _label())
    assert read.StudyInstanceUID == source.StudyInstanceUID and read.SeriesInstanceUID != source.SeriesInstanceUID
    referenced = read.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == source.SeriesInstanceUID
    assert referenced.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert read.SeriesDescription == "pipeline findings" and "ImagePositionPatient" not in source
    assert read.PatientName == "Phantom^A" and read.PatientBirthDate == "" and read.ReferringPhysicianName == ""


def test_seg_refuses_empty_unnamed_or_misshapen_labels(source):
    with pytest.raises(BadInputError, match="empty"):
        label_seg(source, np.zeros((60, 40), np.uint8), {}, "x")
    with pytest.raises(BadInputError, match=r"\[7, 11\] have no segment name"):
        label_seg(source, _label(), {4: "C5"}, "x")
    with pytest.raises(BadInputError, match="does not match"):
        label_seg(source, np.ones((40, 60), np.uint8), {1: "C2"}, "x")
    with pytest.raises(BadInputError, match=r"\[99\] are none of the app's labels"):
        label_seg(source, np.full((60, 40), 99, np.uint8), {99: "C9"}, "x")


def test_secondary_capture_keeps_the_study_and_the_pixels(source, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    sc = overlay_secondary_capture(source, rgb, "pipeline overlay")
    save(sc, tmp_path / "sc.dcm")
    read = pydicom.dcmread(str(tmp_path / "sc.dcm"))
    assert read.SOPClassUID == SECONDARY_CAPTURE and read.PhotometricInterpretation == "RGB"
    assert read.StudyInstanceUID == source.StudyInstanceUID and read.SeriesInstanceUID != source.SeriesInstanceUID
    assert (
        read.PatientName == "Phantom^A"
        and read.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    )
    np.testing.assert_array_equal(read.pixel_array, rgb)
    # Type 2 attributes the source lacks are written empty, not dropped.
    assert read.PatientBirthDate == "" and read.ReferringPhysicianName == "" and read.PatientOrientation == ""
    assert "Laterality" in read  # the body part is unknown here, so laterality is stated as unknown


def test_secondary_capture_refuses_grey_pictures(source):
    with pytest.raises(BadInputError, match="uint8"):
        overlay_secondary_capture(source, np.zeros((30, 20), np.uint8), "x")


def test_read_seg_refuses_other_modalities(source):
    with pytest.raises(BadInputError, match="modality is DX, not SEG"):
        read_seg(source)
