"""Label maps as 3D Slicer sees them: for every kind of radiograph file, the label the levels, compression and pipeline
tasks return lies on the grid ITK reads the image on.

In process, with the shipped models (``build_models``), as ``test_crop_paths`` runs them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from apps.models.registry import build_models
from apps.paths import APP_DIR
from lib.core.settings import parse_settings
from lib.io.reader import read_radiograph
from lib.phantom import cohort_config, generate_patient
from tests.image_kinds import KINDS, assert_same_grid, slicer_grid, write_kind

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SLICER_PARAMS = {"result_extension": ".nrrd", "result_dtype": "uint8", "device": "cpu"}


@pytest.fixture(scope="module")
def models(one_torch_thread):
    settings = dataclasses.replace(parse_settings({"device": "cpu"}), models=("levels", "compression", "pipeline"))
    return build_models(settings, str(APP_DIR))


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """One phantom film written as every kind of file."""
    case = generate_patient(cohort_config(patients=1, seed=11, validation_fraction=0, test_fraction=0), 0)
    folder = tmp_path_factory.mktemp("kinds")
    return {kind: write_kind(kind, case.image, folder) for kind in KINDS}


def _infer(models, task: str, path) -> tuple[str, dict]:
    return models[task].infer_task({"image": str(path), **SLICER_PARAMS})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task", ["levels", "pipeline"])
def test_returned_label_lies_on_the_grid_slicer_reads_the_image_on(models, films, kind, task):
    label_file, result = _infer(models, task, films[kind])
    assert_same_grid(label_file, films[kind])
    grid = slicer_grid(films[kind])
    viewer = result["radiograph"]["viewer_geometry"]
    np.testing.assert_allclose(viewer["spacing"], grid["spacing"], rtol=1e-6)
    np.testing.assert_allclose(viewer["origin"], grid["origin"], atol=1e-6)
    np.testing.assert_allclose(viewer["direction"], grid["direction"], atol=1e-9)
    measured = read_radiograph(films[kind]).spacing_mm
    assert result["radiograph"]["spacing_mm"] == (list(measured) if measured else None)
    if kind in ("dx_magnified", "nrrd_flipped", "nifti") and task == "levels":
        assert result["cervical_spine_found"], result["reason"]  # the map holds the levels, not an empty grid


def test_compression_label_lies_on_the_grid_slicer_reads_the_image_on(models, films):
    label_file, result = _infer(models, "compression", films["nrrd_flipped"])
    assert_same_grid(label_file, films["nrrd_flipped"])
    assert result["radiograph"]["viewer_geometry"]["origin"] == pytest.approx(
        slicer_grid(films["nrrd_flipped"])["origin"]
    )
