"""The overlay picture (radiograph, outlines, Grad-CAM, text) as an RGB Secondary Capture, written with highdicom.

A new series in the source's study. The picture may be shrunk, so it carries no pixel spacing; its rows and
columns run as the source's, so it keeps the source's Patient Orientation (empty when the source has none).
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from lib.core.errors import BadInputError
from lib.io.dicom_results.common import MANUFACTURER, MODEL_NAME, SOFTWARE_VERSION, header_copy, part10, stamp

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def overlay_secondary_capture(
    source: Dataset, rgb: np.ndarray, series_description: str, series_number: int = 301
) -> hd.sc.SCImage:
    """An RGB Secondary Capture of ``rgb`` (uint8 ``[rows, cols, 3]``) in the source's patient and study."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise BadInputError(f"overlay must be uint8 [rows, cols, 3]; got {rgb.dtype} {rgb.shape}")
    ref = header_copy(source)
    orientation = [str(v) for v in (source.get("PatientOrientation") or [])]
    sc = hd.sc.SCImage(
        pixel_array=np.ascontiguousarray(rgb),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=ref.StudyInstanceUID,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_id=ref.PatientID,
        patient_name=ref.PatientName,
        patient_birth_date=ref.PatientBirthDate,
        patient_sex=ref.PatientSex,
        accession_number=ref.AccessionNumber,
        study_id=ref.StudyID,
        study_date=ref.StudyDate,
        study_time=ref.StudyTime,
        referring_physician_name=ref.ReferringPhysicianName,
        patient_orientation=tuple(orientation) if len(orientation) == 2 else ("P", "F"),
        series_description=series_description[:64],
        manufacturer_model_name=MODEL_NAME,
        software_versions=SOFTWARE_VERSION,
    )
    if len(orientation) != 2:
        sc.PatientOrientation = ""  # Type 2C: unknown, so empty rather than invented
    sc.ConversionType = "WSD"  # drawn by software on a workstation, not digitised
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.BurnedInAnnotation = "YES"  # findings and probabilities are drawn into the picture
    sc.DerivationDescription = "radiograph with level outlines, positive segments and Grad-CAM drawn over it"
    for keyword in ("StudyDescription", "BodyPartExamined"):
        if source.get(keyword):
            setattr(sc, keyword, source.data_element(keyword).value)
    if not source.get("BodyPartExamined"):
        # Laterality (Type 2C) is required for a paired body part; with the part unknown it is written empty.
        # With it known (CSPINE: unpaired) it must be absent.
        sc.Laterality = ""
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
    sc.SourceImageSequence = [reference]
    return part10(stamp(sc))
