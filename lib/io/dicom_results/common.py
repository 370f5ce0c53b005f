"""What every object the app writes shares: the source's patient and study, the equipment, the dates.

A result object joins the source's study as a new series. Type 2 patient and study attributes the source
lacks are written empty (present, zero length), as the standard asks, never dropped.
"""

from __future__ import annotations

import datetime
from typing import Optional

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from lib.core.errors import BadInputError
from lib.core.version import APP_VERSION

MANUFACTURER = "CervicalCord"
MODEL_NAME = "cervical-cord pipeline"
SOFTWARE_VERSION = APP_VERSION
DEVICE_SERIAL = "0"
PIXEL_DATA = 0x7FE00010
# Patient and study attributes (Type 2 in the Patient and General Study modules), copied or written empty.
STUDY_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)
REQUIRED_SOURCE = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Rows", "Columns")


def header_copy(source: Dataset) -> Dataset:
    """A new dataset over the source's header (pixel data left out, the caller's dataset unchanged), with
    every Type 2 patient and study attribute present."""
    missing = [k for k in REQUIRED_SOURCE if k not in source]
    if missing:
        raise BadInputError(f"the source image lacks {', '.join(missing)}: results cannot reference it")
    copy = Dataset({tag: element for tag, element in source.items() if tag != PIXEL_DATA})
    for keyword in STUDY_TYPE2:
        if keyword not in copy or copy.data_element(keyword).value is None:
            setattr(copy, keyword, "")
    return copy


def stamp(ds: Dataset, when: Optional[datetime.datetime] = None) -> Dataset:
    """Series, content and instance-creation date and time of a new object (microseconds kept, so two results
    written within a second still sort by creation)."""
    now = when or datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")
    for prefix in ("Series", "Content", "InstanceCreation"):
        setattr(ds, f"{prefix}Date", date)
        setattr(ds, f"{prefix}Time", time)
    return ds


def part10(ds: Dataset) -> Dataset:
    """Ready for a file or STOW-RS: preamble set and explicit VR little endian flags matching the file meta."""
    ds.preamble = b"\0" * 128
    ds.is_little_endian, ds.is_implicit_VR = True, False
    return ds


def new_uid() -> str:
    return generate_uid()
