"""A film-style cohort is written like the schematic one: DICOM DX, label files and the truth JSON."""

import json

import numpy as np
import pydicom
import pytest

from lib.core.errors import BadParameterError
from lib.io.labels import read_label_map
from lib.io.reader import read_radiograph
from lib.phantom import cohort_config, write_cohort
from lib.phantom.film import generate_film_patient


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    config = cohort_config(patients=3, seed=5, validation_fraction=0, test_fraction=0)
    out = write_cohort(tmp_path_factory.mktemp("film") / "cohort", config, progress=False, workers=1, style="film")
    return config, out


def test_each_film_reads_back_as_drawn_with_its_label_map(written):
    config, out = written
    labels = json.loads((out / "phantom_labels.json").read_text())
    assert len(labels) == 3
    for index in range(3):
        case = generate_film_patient(config, index)
        entry = labels[case.image_id]
        assert entry["style"] == "film" and entry["film"]["facing"] in ("left", "right")
        assert entry["annotated_levels"] == list(case.spec.annotated_levels)
        path = out / f"{case.image_id}.dcm"
        ds = pydicom.dcmread(path)
        bits = int(case.spec.acquisition["bits_stored"])
        assert ds.BitsStored == bits and ds.BitsAllocated == (8 if bits == 8 else 16)
        assert ds.PatientOrientation[0] == ("P" if case.spec.facing > 0 else "A")
        film = read_radiograph(path)
        assert film.pixels.shape == case.mask.shape
        assert np.allclose(film.pixels, case.image, atol=1.5 / ((1 << bits) - 1))
        # ImagerPixelSpacing over the magnification factor: the measurement spacing in the patient's plane.
        true_mm = case.spec.spacing_mm / case.spec.magnification
        assert film.spacing_mm == pytest.approx((true_mm, true_mm), rel=1e-3)
        mask = read_label_map(out / "labels" / "final" / f"{case.image_id}.nii.gz")
        assert np.array_equal(np.squeeze(mask), case.mask)


def test_an_unknown_style_is_refused(tmp_path):
    with pytest.raises(BadParameterError, match="style"):
        write_cohort(tmp_path / "x", cohort_config(patients=1), progress=False, workers=1, style="photo")
