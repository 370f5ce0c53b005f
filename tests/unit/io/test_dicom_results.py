"""The pipeline's DICOM objects on a phantom DX: SEG segments numbered 1..N keeping their label values, the
source's frame of reference and plane, SNOMED codes; SEGs of every kind (BINARY, Label Map) read back and turned
into training labels by name; the SR's numbers and image coordinates equal to the JSON's and the landmarks'; the
three files written with complete file meta."""

from __future__ import annotations

import math

import highdicom as hd
import numpy as np
import pydicom
import pytest

from lib.anatomy.names import LEVEL_LABELS
from lib.core.errors import BadInputError
from lib.io.dicom_results import (
    findings_datasets,
    label_seg,
    label_values,
    level_label,
    measurement_report,
    read_seg_content,
    write_dicom_results,
)
from lib.io.dicom_results.lines import disc_lines, level_lines
from lib.io.dicom_results.seg import LABEL_VALUE_ELEMENT, PRIVATE_CREATOR, PRIVATE_GROUP
from lib.results.pipeline import disc_polygon_xy
from tests.dicom_factory import make_dx, phantom_source, pipeline_data, save, viewer_seg

PROBABILITIES = {"C2/3": 0.12, "C3/4": 0.31, "C4/5": 0.93, "C5/6": 0.64}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    case, path = phantom_source(folder)
    data = pipeline_data(case, PROBABILITIES)
    return {"case": case, "path": path, "source": pydicom.dcmread(path, stop_before_pixels=True), "data": data}


def _findings(phantom) -> dict:
    data = phantom["data"]
    return findings_datasets(
        phantom["source"], data["pred"], data["result"], data["pixels"], data["heatmap"], data["landmarks"]
    )


def _reread(ds, tmp_path, name):
    save(ds, tmp_path / name)
    return pydicom.dcmread(tmp_path / name)


def test_segments_are_numbered_one_to_n_and_keep_their_label_values(phantom, tmp_path):
    pred = phantom["data"]["pred"]
    values = sorted(int(v) for v in np.unique(pred) if v)
    assert 10 in values and values != list(range(1, len(values) + 1))  # C4/5's finding: numbers cannot be values
    seg = _reread(_findings(phantom)["seg"], tmp_path, "seg.dcm")
    items = list(seg.SegmentSequence)
    assert [int(s.SegmentNumber) for s in items] == list(range(1, len(values) + 1))
    assert [int(s.get_private_item(PRIVATE_GROUP, LABEL_VALUE_ELEMENT, PRIVATE_CREATOR).value) for s in items] == values
    assert [s.SegmentDescription.split(":")[0] for s in items] == [f"label value {v}" for v in values]
    assert items[values.index(10)].SegmentLabel == "C4/5 compression p=0.93"
    # highdicom reads it back: each segment's pixels are the label's pixels of that value.
    read = hd.seg.segread(tmp_path / "seg.dcm")
    assert list(read.segment_numbers) == list(range(1, len(values) + 1))
    pixels = read.get_pixels_by_source_instance(
        source_sop_instance_uids=[str(phantom["source"].SOPInstanceUID)], combine_segments=False
    )
    for number, value in enumerate(values, start=1):
        np.testing.assert_array_equal(pixels[0, :, :, number - 1].astype(bool), pred == value)
    np.testing.assert_array_equal(label_values(read_seg_content(seg)), pred)  # and so does the app


@pytest.mark.parametrize("levels_seen", [("C2", "C3", "C4"), ()])
def test_a_levels_to_correct_seg_names_every_level_even_where_nothing_was_found(phantom, tmp_path, levels_seen):
    truth = phantom["case"].mask
    partial = np.where(np.isin(truth, [LEVEL_LABELS[n] for n in levels_seen]), truth, 0).astype(np.uint8)
    seg = _reread(
        label_seg(phantom["source"], partial, {}, "Cervical levels to correct", every_level=True), tmp_path, "t.dcm"
    )
    assert [str(s.SegmentLabel) for s in seg.SegmentSequence] == list(LEVEL_LABELS)  # each, in label order
    assert [int(s.SegmentNumber) for s in seg.SegmentSequence] == list(range(1, len(LEVEL_LABELS) + 1))
    assert int(seg.NumberOfFrames) == len(LEVEL_LABELS)  # a frame for each segment, empty ones included
    content = read_seg_content(seg)
    np.testing.assert_array_equal(level_label(content).label, partial)  # and it reads back as the same label


def test_seg_shares_the_sources_frame_of_reference_and_plane(phantom, tmp_path):
    source, seg = phantom["source"], _reread(_findings(phantom)["seg"], tmp_path, "seg.dcm")
    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID and "PositionReferenceIndicator" in seg
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    shared = seg.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [
        float(v) for v in source.ImagerPixelSpacing
    ]
    for frame in seg.PerFrameFunctionalGroupsSequence:
        assert [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient] == [0, 0, 0]
        derived = frame.DerivationImageSequence[0].SourceImageSequence[0]
        assert derived.ReferencedSOPInstanceUID == source.SOPInstanceUID and derived.SpatialLocationsPreserved == "YES"


def test_a_source_without_frame_of_reference_gets_one_derived_from_its_instance():
    source = make_dx(np.zeros((20, 10), np.uint16), ImagerPixelSpacing=["0.2", "0.2"])
    source.StudyInstanceUID, source.SeriesInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    source.EstimatedRadiographicMagnificationFactor = "1.2"
    label = np.zeros((20, 10), np.uint8)
    label[2:5, 2:5] = 1
    one, two = (label_seg(source, label, {1: "C2"}, "x") for _ in range(2))
    assert one.FrameOfReferenceUID == two.FrameOfReferenceUID and one.SeriesInstanceUID != two.SeriesInstanceUID
    spacing = one.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    assert [float(v) for v in spacing] == [0.2, 0.2]  # the image's own pixels, not a magnification-corrected size
    assert one.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"  # an annotator's label


def test_segments_are_coded_as_what_they_are(phantom):
    seg = _findings(phantom)["seg"]
    by_label = {s.SegmentLabel: s for s in seg.SegmentSequence}

    def code(item, keyword):
        c = getattr(item, keyword)[0]
        return c.CodingSchemeDesignator, c.CodeValue

    assert code(by_label["C5"], "SegmentedPropertyTypeCodeSequence") == ("SCT", "36978003")
    assert code(by_label["C2"], "SegmentedPropertyTypeCodeSequence") == ("SCT", "39976000")
    assert code(by_label["spinal_canal"], "SegmentedPropertyTypeCodeSequence") == ("SCT", "61853006")
    assert code(by_label["C5"], "SegmentedPropertyCategoryCodeSequence") == ("SCT", "123037004")
    finding = by_label["C4/5 compression p=0.93"]
    assert code(finding, "SegmentedPropertyTypeCodeSequence") == ("SCT", "71286001")
    assert code(finding, "SegmentedPropertyCategoryCodeSequence") == ("SCT", "49755003")
    assert code(finding, "AnatomicRegionSequence") == ("SCT", "243904008")  # level of the C4/C5 disc
    assert {s.SegmentAlgorithmType for s in seg.SegmentSequence} == {"AUTOMATIC"}


def _masks(shape):
    c5, canal, finding = (np.zeros(shape, bool) for _ in range(3))
    c5[10:30, 10:30] = True
    canal[10:60, 32:40] = True
    finding[40:50, 30:40] = True  # overlaps the canal
    return c5, canal, finding


@pytest.mark.parametrize("labelmap", [False, True], ids=["binary", "labelmap"])
def test_viewer_segs_of_either_kind_read_back_as_canonical_levels(phantom, labelmap):
    source = phantom["source"]
    shape = (int(source.Rows), int(source.Columns))
    c5, canal, finding = _masks(shape)
    seg = viewer_seg(source, {"c5": c5, "Spinal Canal": canal}, labelmap=labelmap)
    content = read_seg_content(seg)
    assert content.segmentation_type == ("LABELMAP" if labelmap else "BINARY")
    assert content.labels == {1: "c5", 2: "Spinal Canal"}  # a label map's background segment 0 is not a segment
    assert content.referenced_series == [str(source.SeriesInstanceUID)]
    assert str(source.SOPInstanceUID) in content.referenced_instances
    levels = level_label(content)
    expected = np.zeros(shape, np.uint8)
    expected[c5], expected[canal] = LEVEL_LABELS["C5"], LEVEL_LABELS["spinal_canal"]
    np.testing.assert_array_equal(levels.label, expected)
    assert levels.levels == ["C5", "spinal_canal"] and levels.dropped_findings == []


def test_findings_are_dropped_and_other_names_refused_with_the_allowed_ones(phantom):
    source = phantom["source"]
    shape = (int(source.Rows), int(source.Columns))
    c5, canal, finding = _masks(shape)
    edited = level_label(
        read_seg_content(viewer_seg(source, {"C5": c5, "spinal_canal": canal, "C5/6 compression p=0.91": finding}))
    )
    assert edited.dropped_findings == ["C5/6 compression p=0.91"] and edited.levels == ["C5", "spinal_canal"]
    assert (edited.label[canal] == LEVEL_LABELS["spinal_canal"]).all()  # the canal under the finding stays
    with pytest.raises(
        BadInputError, match=r"\['Segment 1'\] are not level names.*C2, C3, C4, C5, C6, C7, spinal_canal"
    ):
        level_label(read_seg_content(viewer_seg(source, {"C5": c5, "Segment 1": canal})))
    with pytest.raises(BadInputError, match="only findings"):
        level_label(read_seg_content(viewer_seg(source, {"C5/6 compression": finding})))
    with pytest.raises(BadInputError, match=r"\['C5'\] on more than one segment"):
        level_label(read_seg_content(viewer_seg(source, {"C5": c5, "c5": canal})))


def test_broken_segs_are_refused_with_a_reason_not_a_crash(phantom):
    source = phantom["source"]
    c5, canal, _ = _masks((int(source.Rows), int(source.Columns)))
    binary = viewer_seg(source, {"C5": c5})
    del binary.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence
    with pytest.raises(BadInputError, match="names no segment"):
        read_seg_content(binary)
    labelmap = viewer_seg(source, {"C5": c5}, labelmap=True)
    labelmap.PixelData = (np.frombuffer(labelmap.PixelData, np.uint8) * 3).tobytes()
    with pytest.raises(BadInputError, match=r"segment numbers \[3\]"):
        read_seg_content(labelmap)
    with pytest.raises(BadInputError, match="modality is DX, not SEG"):
        read_seg_content(source)


def _length_mm(line, spacing) -> float:
    (x0, y0), (x1, y1) = line
    return math.hypot((x1 - x0) * spacing[1], (y1 - y0) * spacing[0])


def test_measured_lines_are_the_lines_the_measurements_measure(phantom):
    case, result = phantom["case"], phantom["data"]["result"]
    levels, discs = level_lines(case.landmarks), disc_lines(case.landmarks)
    checked = 0
    for segment, entry in result["segments"].items():
        measured = entry["measurements"] or {}
        for level, row in (measured.get("levels") or {}).items():
            assert _length_mm(levels[level]["canal"], case.spacing_mm) == pytest.approx(row["canal_diameter_mm"])
            assert _length_mm(levels[level]["body_depth"], case.spacing_mm) == pytest.approx(row["body_depth_mm"])
            checked += 2
        for position in ("anterior", "middle", "posterior") if measured.get("disc") else ():
            expected = measured["disc"][f"disc_height_{position}_mm"]
            assert _length_mm(discs[segment][position], case.spacing_mm) == pytest.approx(expected)
            checked += 1
    assert checked >= 20


def _groups(sr_path):
    sr = hd.sr.srread(sr_path)
    planar = {str(g.tracking_identifier): g for g in sr.content.get_planar_roi_measurement_groups()}
    plain = {str(g.tracking_identifier): g for g in sr.content.get_image_measurement_groups()}
    return sr, planar, plain


def _values(group) -> dict:
    return {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}


def _film_outline(source) -> np.ndarray:
    rows, columns = source.Rows, source.Columns
    return np.array([[0, 0], [columns, 0], [columns, rows], [0, rows], [0, 0]], dtype=np.float64)


def _points(group) -> np.ndarray:
    return np.asarray(group.roi.GraphicData, dtype=np.float64).reshape(-1, 2)


def test_sr_holds_each_segments_call_and_each_measurement_on_its_line(phantom, tmp_path):
    case, result, source = phantom["case"], phantom["data"]["result"], phantom["source"]
    save(measurement_report(source, result, case.landmarks), tmp_path / "sr.dcm")
    sr, planar, plain = _groups(tmp_path / "sr.dcm")
    # Every group on a region (OHIF 3.13 stops loading a report at a group without one).
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33" and not plain
    summary = planar["patient summary"]
    np.testing.assert_allclose(_points(summary), _film_outline(source), atol=1e-6)  # about the whole film
    assert [(q.name.meaning, q.value.meaning) for q in summary.get_qualitative_evaluations()] == [
        ("Cervical spine", "Present"),
        ("Spinal cord compression", "Present"),
    ]
    assert _values(summary) == {"Probability": (pytest.approx(max(PROBABILITIES.values())), "1")}
    for segment, entry in result["segments"].items():
        if entry["probability"] is None:
            assert f"{segment} compression" not in planar
            continue
        group = planar[f"{segment} compression"]
        assert _values(group) == {
            "Probability": (pytest.approx(entry["probability"]), "1"),
            "Threshold Value": (pytest.approx(entry["threshold"]), "1"),
        }
        (call,) = group.get_qualitative_evaluations()
        assert call.value.meaning == ("Present" if entry["positive"] else "Absent")
        polygon = disc_polygon_xy(case.landmarks, segment)
        np.testing.assert_allclose(_points(group), np.vstack([polygon, polygon[:1]]) + 0.5, atol=1e-3)
        assert group.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    lines, discs, levels_seen = level_lines(case.landmarks), disc_lines(case.landmarks), set()
    for segment, entry in result["segments"].items():
        measured = entry["measurements"] or {}
        for level, row in (measured.get("levels") or {}).items():
            levels_seen.add(level)
            canal = planar[f"{level} canal"]
            assert _values(canal) == {
                "Diameter": (pytest.approx(row["canal_diameter_mm"], rel=1e-9), "mm"),
                "Torg-Pavlov ratio": (pytest.approx(row["torg_pavlov_ratio"], rel=1e-9), "1"),
            }
            np.testing.assert_allclose(_points(canal), np.asarray(lines[level]["canal"]) + 0.5, atol=1e-3)
            depth = planar[f"{level} body depth"]
            assert _values(depth) == {"Depth": (pytest.approx(row["body_depth_mm"], rel=1e-9), "mm")}
        for position in ("anterior", "middle", "posterior") if measured.get("disc") else ():
            group = planar[f"{segment} disc height {position}"]
            name = f"{position.capitalize()} disc height"
            assert _values(group) == {name: (pytest.approx(measured["disc"][f"disc_height_{position}_mm"]), "mm")}
            np.testing.assert_allclose(_points(group), np.asarray(discs[segment][position]) + 0.5, atol=1e-3)
    assert len(levels_seen) >= 4


def test_sr_without_landmarks_or_spacing_keeps_what_was_measured(phantom, tmp_path):
    data = pipeline_data(phantom["case"], PROBABILITIES, spacing_known=False)
    save(measurement_report(phantom["source"], data["result"], None), tmp_path / "sr.dcm")
    _, planar, plain = _groups(tmp_path / "sr.dcm")
    assert not plain and planar
    for group in planar.values():  # no landmarks: no place measured, so each group is on the film's outline
        np.testing.assert_allclose(_points(group), _film_outline(phantom["source"]), atol=1e-6)
    assert _values(planar["C4/5 compression"])["Probability"][0] == pytest.approx(0.93)
    assert set(_values(planar["C5 canal"])) == {"Torg-Pavlov ratio"}  # no mm without spacing, the ratio stays
    assert not any("disc height" in k or "body depth" in k for k in planar)  # only mm there: not written


def test_write_dicom_results_writes_three_complete_files(phantom, tmp_path):
    paths = write_dicom_results(phantom["path"], phantom["data"], tmp_path / "out")
    stem = phantom["path"].stem
    assert {k: p.name for k, p in paths.items()} == {
        "seg": f"{stem}_seg.dcm",
        "sc": f"{stem}_overlay.dcm",
        "sr": f"{stem}_sr.dcm",
    }
    for path in paths.values():
        raw = path.read_bytes()
        assert raw[128:132] == b"DICM"
        ds = pydicom.dcmread(path)
        meta = ds.file_meta
        for keyword in (
            "FileMetaInformationGroupLength",
            "FileMetaInformationVersion",
            "MediaStorageSOPClassUID",
            "MediaStorageSOPInstanceUID",
            "TransferSyntaxUID",
            "ImplementationClassUID",
            "ImplementationVersionName",
        ):
            assert keyword in meta, (path.name, keyword)
        assert meta.MediaStorageSOPClassUID == ds.SOPClassUID and meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.StudyInstanceUID == phantom["source"].StudyInstanceUID
    sc = pydicom.dcmread(paths["sc"])
    assert sc.PhotometricInterpretation == "RGB" and sc.pixel_array.std() > 1.0
    empty = dict(phantom["data"], pred=np.zeros_like(phantom["data"]["pred"]))
    assert set(write_dicom_results(phantom["path"], empty, tmp_path / "empty")) == {"sc", "sr"}  # nothing to segment
    not_dicom = tmp_path / "x.png"
    not_dicom.write_bytes(b"\x89PNG....")
    with pytest.raises(BadInputError, match="DICOM source"):
        write_dicom_results(not_dicom, phantom["data"], tmp_path / "bad")
