"""Test inputs built in code: DICOM datasets written by pydicom, and real files from pydicom-data."""

from __future__ import annotations

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
