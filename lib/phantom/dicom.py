"""Writing a phantom radiograph as DICOM DX (Digital X-Ray Image Storage - For Presentation).

Deterministic: UIDs come from ``generate_uid`` with an entropy source derived from the seed and patient, and all
dates and times are fixed, so the same seed gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lib.phantom.patient import PatientSpec

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
FIXED_DATE = "20240102"
FIXED_TIME = "090000"
SOURCE_TO_DETECTOR_MM = 1800.0  # lateral cervical spine is taken at about 180 cm


def _uid(seed: int, spec: PatientSpec, kind: str) -> str:
    return generate_uid(entropy_srcs=["cervical-phantom", str(seed), spec.patient_id, kind])


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "SCT", meaning
    return item


def _meta(sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_FOR_PRESENTATION
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid(entropy_srcs=["cervical-phantom-implementation"])
    meta.ImplementationVersionName = "CSPINE_PHANTOM"
    return meta


def write_dicom(
    path: Path,
    stored: np.ndarray,
    spec: PatientSpec,
    seed: int,
    bits_stored: int = 12,
    orientation: tuple = ("P", "F"),
    burned_in: bool = False,
) -> str:
    """Write ``stored`` (uint16 [rows, cols], ``bits_stored`` bits, bone bright) to ``path``; returns the photometric
    name.

    MONOCHROME1 images (per centre profile) are stored inverted, so that viewers honouring the tag show bone bright.
    ``orientation``: PatientOrientation (rows run posterior for a film facing left, anterior for one facing right);
    ``burned_in``: whether text or markers are burned into the pixels. 8-bit films are stored in 8-bit pixels.
    """
    if not 8 <= bits_stored <= 16:
        raise ValueError(f"bits_stored must be 8-16, got {bits_stored}")
    top = (1 << bits_stored) - 1
    sop_uid = _uid(seed, spec, "sop")
    ds = FileDataset(str(path), {}, file_meta=_meta(sop_uid), preamble=b"\0" * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = DX_FOR_PRESENTATION, sop_uid
    ds.StudyInstanceUID = _uid(seed, spec, "study")
    ds.SeriesInstanceUID = _uid(seed, spec, "series")
    ds.FrameOfReferenceUID = _uid(seed, spec, "frame")
    ds.Modality, ds.PresentationIntentType = "DX", "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    for tag in ("StudyDate", "SeriesDate", "ContentDate", "AcquisitionDate"):
        setattr(ds, tag, FIXED_DATE)
    for tag in ("StudyTime", "SeriesTime", "ContentTime", "AcquisitionTime"):
        setattr(ds, tag, FIXED_TIME)
    ds.PositionReferenceIndicator = ""  # Type 2: a projection has no anatomical reference point
    ds.PatientID, ds.PatientName = spec.patient_id, f"Phantom^{spec.patient_id}"
    ds.PatientSex, ds.PatientAge = "O", f"{int(np.clip(spec.age_years, 18, 99)):03d}Y"
    ds.PatientBirthDate, ds.ReferringPhysicianName = "", ""  # Type 2: unknown for a phantom
    ds.AccessionNumber, ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = spec.image_id[-16:], "1", 1, 1
    ds.StudyDescription, ds.SeriesDescription = "XR CERVICAL SPINE LATERAL", "C-SPINE LAT"
    ds.InstitutionName, ds.Manufacturer = f"Phantom {spec.centre.name}", spec.centre.manufacturer
    ds.BodyPartExamined, ds.ViewPosition = "CSPINE", "LL"
    ds.ViewCodeSequence = [_code("399067008", "lateral")]  # CID 4010 DX View
    ds.AnatomicRegionSequence = [_code("122494005", "Cervical spine")]
    ds.ImageLaterality = "U"  # unpaired body part
    ds.PatientOrientation = list(orientation)  # rows run posterior (facing left), columns run to the feet
    ds.AcquisitionContextSequence = []  # Type 2: no acquisition context recorded
    ds.DetectorType, ds.PositionerType = "", ""  # Type 2: a simulated detector and positioner
    ds.BurnedInAnnotation, ds.LossyImageCompression = ("YES" if burned_in else "NO"), "00"
    ds.ImagerPixelSpacing = [f"{spec.spacing_mm:.4f}", f"{spec.spacing_mm:.4f}"]
    ds.EstimatedRadiographicMagnificationFactor = f"{spec.magnification:.4f}"
    ds.DistanceSourceToDetector = f"{SOURCE_TO_DETECTOR_MM:.1f}"
    ds.DistanceSourceToPatient = f"{SOURCE_TO_DETECTOR_MM / spec.magnification:.1f}"
    ds.KVP = "75"
    ds.SamplesPerPixel, ds.Rows, ds.Columns = 1, int(stored.shape[0]), int(stored.shape[1])
    allocated = 8 if bits_stored == 8 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = allocated, bits_stored, bits_stored - 1, 0
    monochrome1 = bool(spec.acquisition["monochrome1"])
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.PresentationLUTShape = "INVERSE" if monochrome1 else "IDENTITY"  # as DX asks for each photometric
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1 if monochrome1 else -1
    ds.WindowCenter, ds.WindowWidth = str((top + 1) // 2), str(top + 1)
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"
    pixels = (top - stored) if monochrome1 else stored
    ds.PixelData = np.ascontiguousarray(pixels.astype("u1" if allocated == 8 else "<u2")).tobytes()
    ds.save_as(str(path), write_like_original=False)
    return ds.PhotometricInterpretation
