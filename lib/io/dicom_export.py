"""Results as DICOM in the source study: label maps as SEG, overlay pictures as Secondary Capture; SEG read back.

Everything here is pure pydicom (and pydicom-seg's template and writer); uploading is the caller's job.
A projection radiograph (CR/DX) has no ImagePositionPatient/ImageOrientationPatient, which pydicom-seg needs to
place the mask on its source image: a copy of the source gets the plane MONAI Label and Slicer assume for a
position-less 2D image (origin 0, rows along y), so the SEG still references the real SOP instance.
"""

from __future__ import annotations

import datetime
from typing import Mapping, Optional

import numpy as np
import pydicom_seg
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lib.core.errors import BadInputError

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
PIXEL_DATA = 0x7FE00010
# Copied from the source so the new series sits in the same patient and study.
_STUDY_TAGS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)
_DEFAULT_COLOURS = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (255, 0, 0),
    (255, 0, 0),
    (255, 0, 0),
    (255, 0, 0),
    (255, 0, 0),
]


def label_seg(
    source: Dataset,
    label_hw: np.ndarray,
    names: Mapping[int, str],
    series_description: str,
    spacing_mm: Optional[tuple[float, float]] = None,
    series_number: int = 300,
) -> Dataset:
    """A DICOM SEG (binary, one frame per present segment) of a uint8 ``[rows, cols]`` label map on ``source``.

    names: label value -> segment label (e.g. ``{4: "C5", 11: "C5/6 compression p=0.93"}``); every non-zero value
    in the map needs a name. spacing_mm: (row, col) for the SEG's pixel measures (1 mm when unknown).
    """
    label = np.asarray(label_hw)
    if label.shape != (int(source.Rows), int(source.Columns)):
        raise BadInputError(f"label {label.shape} does not match the image {int(source.Rows)} x {int(source.Columns)}")
    present = sorted(int(v) for v in np.unique(label) if v != 0)
    if not present:
        raise BadInputError("the label map is empty: a DICOM SEG needs at least one segment")
    unnamed = [v for v in present if v not in names]
    if unnamed:
        raise BadInputError(f"label values {unnamed} have no segment name")
    template = pydicom_seg.template.from_dcmqi_metainfo(_metainfo(present, names, series_description, series_number))
    writer = pydicom_seg.MultiClassWriter(
        template=template, inplane_cropping=False, skip_empty_slices=False, skip_missing_segment=False
    )
    row_mm, col_mm = spacing_mm or (1.0, 1.0)
    mask = sitk.GetImageFromArray(label.astype(np.uint16)[None])  # [1, rows, cols] -> x = col, y = row, z = 1
    mask.SetSpacing((float(col_mm), float(row_mm), 1.0))
    seg = writer.write(mask, [_placed(source)])
    seg.SeriesDescription = series_description
    seg.SeriesDate = seg.ContentDate = datetime.date.today().strftime("%Y%m%d")
    return seg


def _metainfo(values, names: Mapping[int, str], description: str, series_number: int) -> dict:
    attributes = []
    for value in values:
        name = str(names[value])
        attributes.append(
            {
                "labelID": int(value),
                "SegmentLabel": name[:64],
                "SegmentDescription": name[:64],
                "SegmentAlgorithmType": "AUTOMATIC",
                "SegmentAlgorithmName": "cervical-cord",
                "SegmentedPropertyCategoryCodeSequence": {
                    "CodeValue": "123037004",
                    "CodingSchemeDesignator": "SCT",
                    "CodeMeaning": "Anatomical Structure",
                },
                "SegmentedPropertyTypeCodeSequence": {
                    "CodeValue": "421060004",
                    "CodingSchemeDesignator": "SCT",
                    "CodeMeaning": "Cervical vertebra",
                },
                "recommendedDisplayRGBValue": list(_DEFAULT_COLOURS[(value - 1) % len(_DEFAULT_COLOURS)]),
            }
        )
    return {
        "ContentCreatorName": "CervicalCord",
        "SeriesDescription": description[:64],
        "SeriesNumber": str(series_number),
        "InstanceNumber": "1",
        "segmentAttributes": [attributes],
        "ContentLabel": "SEGMENTATION",
        "ContentDescription": description[:64],
        "BodyPartExamined": "CSPINE",
        "ClinicalTrialCoordinatingCenterName": "",
        "ClinicalTrialSeriesID": "",
        "ClinicalTrialTimePointID": "",
    }


def _placed(source: Dataset) -> Dataset:
    """The source with a plane when it has none (CR/DX), and a frame of reference to share with the SEG."""
    # A new dataset over the same elements (pixel data left out): the caller's dataset is not changed.
    placed = Dataset({tag: element for tag, element in source.items() if tag != PIXEL_DATA})
    if "ImagePositionPatient" not in placed:
        placed.ImagePositionPatient = [0.0, 0.0, 0.0]
    if "ImageOrientationPatient" not in placed:
        placed.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    if "FrameOfReferenceUID" not in placed:
        placed.FrameOfReferenceUID = generate_uid()
    return placed


def overlay_secondary_capture(
    source: Dataset, rgb: np.ndarray, series_description: str, series_number: int = 301
) -> Dataset:
    """An RGB Secondary Capture of ``rgb`` (uint8 ``[rows, cols, 3]``) in the source's patient and study."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise BadInputError(f"overlay must be uint8 [rows, cols, 3]; got {rgb.dtype} {rgb.shape}")
    ds = _new_instance(source, SECONDARY_CAPTURE, "OT", series_description, series_number)
    ds.ConversionType = "WSD"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns = int(rgb.shape[0]), int(rgb.shape[1])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.BurnedInAnnotation = "YES"  # findings and probabilities are drawn into the picture
    ds.PixelData = np.ascontiguousarray(rgb).tobytes()
    return ds


def _new_instance(source: Dataset, sop_class: str, modality: str, description: str, series_number: int) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta, ds.preamble = meta, b"\0" * 128
    ds.is_little_endian, ds.is_implicit_VR = True, False
    for tag in _STUDY_TAGS:
        if tag in source:
            setattr(ds, tag, source.data_element(tag).value)
    now = datetime.datetime.now()
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID, ds.Modality, ds.SeriesDescription = generate_uid(), modality, description[:64]
    ds.SeriesNumber, ds.InstanceNumber = series_number, 1
    ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
    ds.SourceImageSequence = [reference]
    return ds


def read_seg(seg: Dataset) -> tuple[np.ndarray, dict[int, str]]:
    """A single-plane SEG back as (int32 ``[rows, cols]`` map of segment numbers, segment number -> label).

    Overlapping segments: the higher segment number wins (label maps hold one value per pixel).
    """
    if getattr(seg, "Modality", "") != "SEG":
        raise BadInputError(f"not a DICOM SEG (Modality {getattr(seg, 'Modality', 'missing')!r})")
    names = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    frames = np.asarray(seg.pixel_array)
    frames = frames[None] if frames.ndim == 2 else frames
    label = np.zeros(frames.shape[1:], dtype=np.int32)
    per_frame = seg.PerFrameFunctionalGroupsSequence
    order = sorted(range(len(frames)), key=lambda i: _segment_number(per_frame[i]))
    for i in order:
        label[frames[i] > 0] = _segment_number(per_frame[i])
    return label, names


def _segment_number(frame_group: Dataset) -> int:
    return int(frame_group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)


def finding_names(result: Mapping, values: set) -> dict[int, str]:
    """Segment names for a pipeline label map: levels by name, positive segments with their probability."""
    from lib.results.pipeline import PIPELINE_LABELS, POSITIVE_SEGMENT_LABELS

    names = {value: name for name, value in PIPELINE_LABELS.items() if value in values}
    for name, value in POSITIVE_SEGMENT_LABELS.items():
        segment = name.replace(" compression", "")
        probability = (result.get("segments", {}).get(segment) or {}).get("probability")
        if value in values and probability is not None:
            names[value] = f"{segment} compression p={probability:.2f}"
    return names


def findings_datasets(
    source: Dataset,
    label_hw: np.ndarray,
    result: Mapping,
    pixels: np.ndarray,
    heatmap: Optional[np.ndarray],
    spacing_mm,
) -> list[Dataset]:
    """The pipeline's findings for the PACS: a SEG of the level map (when anything was found) whose positive
    segments are named with their probability, and the overlay picture (radiograph, outlines, Grad-CAM) as SC.

    label_hw: uint8 pipeline label map; pixels: float [rows, cols] in [0, 1]; heatmap: float in [0, 1] or None.
    """
    from lib.results.overlay import render_overlay

    out = []
    values = set(int(v) for v in np.unique(label_hw)) - {0}
    if values:
        out.append(
            label_seg(
                source,
                label_hw,
                finding_names(result, values),
                "Cervical cord findings",
                spacing_mm=spacing_mm,
                series_number=310,
            )
        )
    title = str(result.get("result", ""))
    picture = render_overlay(pixels, label_hw, heatmap, title=title, max_side_px=1200)
    out.append(
        overlay_secondary_capture(
            source, np.asarray(picture.convert("RGB")), "Cervical cord overlay", series_number=311
        )
    )
    return out
