"""Writing cohorts: determinism, DICOM header, labels on disk, atomic folder."""

import hashlib

import nibabel as nib
import numpy as np
import pydicom
import pytest

from lib.core.errors import BadParameterError
from lib.phantom import cohort as cohort_module
from lib.phantom import cohort_config, generate_patient, label_record, write_cohort


def _digests(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    config = cohort_config(patients=3, seed=5, centre="external", validation_fraction=0, test_fraction=0)
    one = write_cohort(tmp_path / "a", config, progress=False, workers=1)
    two = write_cohort(tmp_path / "b", config, progress=False, workers=2)
    assert _digests(one) == _digests(two)
    other = write_cohort(
        tmp_path / "c",
        cohort_config(patients=3, seed=6, centre="external", validation_fraction=0, test_fraction=0),
        progress=False,
        workers=1,
    )
    assert _digests(other)["phantom_6_0000.dcm"] != _digests(one)["phantom_5_0000.dcm"]


def test_dicom_header_and_label_file(tmp_path):
    config = cohort_config(patients=12, seed=4, centre="external", validation_fraction=0, test_fraction=0)
    index = next(i for i in range(12) if label_record(config, i)["summary"]["photometric"] == "MONOCHROME1")
    folder = tmp_path / "one"
    folder.mkdir()
    cohort_module._write_one((config, index, str(folder)))
    case = generate_patient(config, index)
    ds = pydicom.dcmread(folder / f"{case.image_id}.dcm")
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1"
    assert (ds.BitsStored, ds.BodyPartExamined, ds.ViewPosition) == (12, "CSPINE", "LL")
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.175, 0.175]
    assert float(ds.EstimatedRadiographicMagnificationFactor) == pytest.approx(case.magnification, abs=1e-4)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert np.array_equal(ds.pixel_array, 4095 - case.stored)
    label = np.asarray(nib.load(folder / "labels" / "final" / f"{case.image_id}.nii.gz").dataobj)[:, :, 0].T
    assert np.array_equal(label, case.mask)


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cohort_module, "_write_tables", boom)
    config = cohort_config(patients=1, seed=1, validation_fraction=0, test_fraction=0)
    with pytest.raises(RuntimeError):
        write_cohort(tmp_path / "out", config, progress=False, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_refused(tmp_path):
    config = cohort_config(patients=1, seed=1, validation_fraction=0, test_fraction=0)
    with pytest.raises(BadParameterError, match="out_dir"):
        write_cohort(tmp_path, config, progress=False, workers=1)


def test_mixed_style_draws_every_patient_as_film_and_half_the_training_patients_as_schematic():
    from lib.phantom.cohort import _jobs
    from lib.phantom.config import demo_config

    config = demo_config(seed=3, patients=8)  # 5 train, 1 validation, 1 internal test, 1 external test
    jobs = _jobs(config, "out", "mixed")
    films = sorted(i for _, i, _, style in jobs if style == "film")
    schematic = sorted(i for _, i, _, style in jobs if style == "schematic")
    assert films == list(range(8))
    assert schematic == [0, 2, 4, 5, 6, 7]
    assert [style for *_, style in _jobs(config, "out", "film")] == ["film"] * 8
