"""Test inputs built in code: DICOM datasets written by pydicom, and real files from pydicom-data."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"


def pydicom_data_file(name: str) -> Path:
    """A file from the pydicom-data package (real CR images and secondary captures)."""
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = get_testdata_file(name)
    if path is None:
        pytest.fail(f"pydicom-data file {name} is missing: install requirements-test.txt")
    return Path(path)


def make_dx(pixels: np.ndarray, **tags) -> Dataset:
    """A minimal DX For Presentation dataset around ``pixels`` (uint16, MONOCHROME2 unless tags say otherwise)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = tags.pop("SOPClassUID", DX_PRESENTATION)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientID = "TEST"
    pixels = np.asarray(pixels)
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(str(path), write_like_original=False)
    return path


# Pipeline results and SEGs as viewers store them -----------------------------------------------------------


def phantom_source(folder: Path, seed: int = 7, index: int = 0, centre: str = "internal"):
    """A rendered phantom patient and its DX file written by the phantom's own writer: ``(case, path)``."""
    from lib.phantom import cohort_config, generate_patient
    from lib.phantom.dicom import write_dicom

    config = cohort_config(patients=max(2, index + 1), seed=seed, centre=centre, validation_fraction=0, test_fraction=0)
    case = generate_patient(config, index)
    path = Path(folder) / f"{case.image_id}.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dicom(path, case.stored, case.spec, seed)
    return case, path


def pipeline_data(case, probabilities: dict, threshold: float = 0.5, spacing_known: bool = True) -> dict:
    """What ``PipelineInfer.run`` returns for a phantom case with the given per-segment probabilities, built from
    the phantom's true landmarks by the pipeline's own functions (no network)."""
    from lib.anatomy.levels import segment_status
    from lib.anatomy.measurements import all_measurements
    from lib.results.pipeline import CompressionCalls, Measured, assemble_result, mark_positive_segments

    found = [lv for lv in ("C2", "C3", "C4", "C5", "C6", "C7") if lv in case.landmarks]
    spacing = tuple(case.spacing_mm) if spacing_known else None
    measurements = all_measurements(case.landmarks, spacing)
    positives = [s for s, p in probabilities.items() if p >= threshold]
    result = assemble_result(
        {"cervical_spine_found": True, "reason": "", "found": found, "missing": []},
        segment_status(found),
        {
            "shape": list(case.mask.shape),
            "spacing_mm": list(spacing) if spacing else None,
            "spacing_source": "ImagerPixelSpacing" if spacing else "unknown",
            "magnification": None,
            "warnings": [],
        },
        {"levels": "L1", "compression": "C1", "landmarks": "R1"},
        Measured(measurements, "as read (ImagerPixelSpacing); no magnification applied", "phantom truth"),
        CompressionCalls(dict(probabilities), {}, threshold),
    )
    heatmap = np.zeros(case.mask.shape, dtype=np.float32)
    heatmap[: case.mask.shape[0] // 3, : case.mask.shape[1] // 3] = 0.8
    return {
        "pixels": case.image,
        "pred": mark_positive_segments(case.mask, case.landmarks, positives),
        "heatmap": heatmap,
        "landmarks": case.landmarks,
        "spacing_mm": spacing,
        "result": result,
    }


def viewer_seg(
    source: Dataset,
    masks: dict,
    when: str = "20250101120000",
    labelmap: bool = False,
    description: str = "Segmentation",
    manufacturer: str = "OHIF",
    rows_cols: tuple | None = None,
) -> Dataset:
    """A SEG as a viewer (OHIF 3.13) stores one, made with highdicom on ``source`` (a DX, given the plane
    viewers assume): one segment per ``masks`` entry (Segment Label -> bool ``[rows, cols]``) coded as OHIF's
    default "Tissue", dated ``when`` (YYYYMMDDHHMMSS, a fraction allowed).

    labelmap: converted to Label Map Segmentation Storage, which OHIF 3.13 stores by default (highdicom 0.22
    writes BINARY only): one frame of segment numbers, a background segment 0, no Segment Identification
    Sequence. rows_cols: another size than the source's (a SEG that does not fit; the masks have that size).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    placed = Dataset({tag: element for tag, element in source.items() if tag != 0x7FE00010})
    for keyword in ("PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID"):
        if keyword not in placed:
            setattr(placed, keyword, "")
    placed.StudyDate, placed.StudyTime = placed.get("StudyDate", ""), placed.get("StudyTime", "")
    placed.FrameOfReferenceUID = source.get("FrameOfReferenceUID") or generate_uid()
    placed.ImagePositionPatient, placed.ImageOrientationPatient = [0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    placed.PixelSpacing = [float(v) for v in source.get("ImagerPixelSpacing", [1.0, 1.0])]
    placed.SliceThickness = 1.0
    if rows_cols is not None:
        placed.Rows, placed.Columns = rows_cols
    names = list(masks)
    shape = (int(placed.Rows), int(placed.Columns))
    stack = np.stack([np.asarray(masks[name], dtype=bool) for name in names], axis=-1)  # masks may overlap
    numbers = np.zeros(shape, dtype=np.uint8)
    for number in range(1, len(names) + 1):
        numbers[stack[:, :, number - 1]] = number  # a label map holds one segment per pixel: the later wins
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name,
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type="MANUAL",
        )
        for number, name in enumerate(names, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=[placed],
        pixel_array=stack[None].astype(np.uint8),
        segmentation_type="BINARY",
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=900,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name="viewer",
        software_versions="3.13.2",
        device_serial_number="0",
        series_description=description,
        omit_empty_frames=False,
    )
    seg.SeriesDate, seg.SeriesTime = when[:8], when[8:]
    seg.ContentDate, seg.ContentTime = when[:8], when[8:]
    if labelmap:
        seg = _as_labelmap(seg, numbers)
    seg.preamble = b"\0" * 128
    return seg


def _as_labelmap(seg: Dataset, numbers: np.ndarray) -> Dataset:
    from pydicom.sequence import Sequence

    seg.SOPClassUID = seg.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.7"
    seg.SegmentationType = "LABELMAP"
    seg.BitsAllocated, seg.BitsStored, seg.HighBit, seg.PixelRepresentation = 8, 8, 7, 0
    seg.PhotometricInterpretation, seg.PixelPaddingValue = "MONOCHROME2", 0
    background = Dataset()
    background.SegmentNumber, background.SegmentLabel, background.SegmentAlgorithmType = 0, "Background", "MANUAL"
    seg.SegmentSequence = Sequence([background, *seg.SegmentSequence])
    first = seg.PerFrameFunctionalGroupsSequence[0]
    del first.SegmentIdentificationSequence
    first.FrameContentSequence[0].DimensionIndexValues = [1]
    seg.PerFrameFunctionalGroupsSequence = Sequence([first])
    seg.NumberOfFrames = 1
    seg.PixelData = np.ascontiguousarray(numbers.astype(np.uint8)).tobytes()
    return seg


DCIODVFY = "/usr/bin/dciodvfy"


def dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """(error lines, warning lines) of ``dciodvfy`` on one file."""
    if not Path(DCIODVFY).exists() and shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy is missing: apt-get install -y dicom3tools")
    run = subprocess.run([shutil.which("dciodvfy") or DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")], [line for line in lines if line.startswith("Warning")]


def foreign_sr(source: Dataset, when: str = "20240101000000") -> Dataset:
    """A TID 1500 measurement report another application wrote on ``source``: one length in a planar ROI group,
    as a viewer's ruler would store it."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    image = hd.sr.SourceImageForRegion(str(source.SOPClassUID), str(source.SOPInstanceUID))
    ruler = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=np.array([[10.0, 10.0], [60.0, 80.0]]),
        source_image=image,
    )
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="ruler 1"),
        referenced_region=ruler,
        measurements=[hd.sr.Measurement(name=codes.SCT.Length, value=12.5, unit=codes.UCUM.Millimeter)],
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes("Reader^A"),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure"),
        imaging_measurements=[group],
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[source],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=900,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Another viewer",
        series_description="Reader measurements",
    )
    sr.SeriesDate, sr.SeriesTime = when[:8], when[8:]
    return sr
