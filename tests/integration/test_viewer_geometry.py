"""Label maps as 3D Slicer sees them: for every kind of radiograph file, the label the levels, compression and pipeline
tasks return lies on the grid ITK reads the image on; and a Slicer round trip (the label resampled onto the image's
grid, as Slicer's submit does, and saved to the datastore) keeps each level's Dice against the phantom's truth.

In process, with the shipped models (``build_models``), as ``test_crop_paths`` runs them.
"""

from __future__ import annotations

import dataclasses

import itk
import numpy as np
import pytest
from fastapi import HTTPException

from apps.datastores.local import RadiographDatastore
from apps.models.registry import build_models
from apps.paths import APP_DIR
from lib.anatomy.levels import multilabel_dice
from lib.anatomy.names import LEVEL_LABELS, VERTEBRAE
from lib.core.settings import parse_settings
from lib.io.geometry import ViewerGeometry
from lib.io.labels import label_geometry, read_label_map, write_label_map
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


@pytest.fixture(scope="module")
def phantom_store(phantom_cohort, tmp_path_factory):
    """A phantom datastore, one film whose C2-C7 the shipped levels model finds, and its true mask."""
    studies = phantom_cohort(tmp_path_factory.mktemp("roundtrip") / "studies", patients=4, seed=11)
    datastore = RadiographDatastore(str(studies), max_image_pixels=50_000_000, auto_reload=False)
    return studies, datastore


def _slicer_submit(image_path, label_path, out_path):
    """What Slicer does with an imported label before it submits it: both read by ITK, the label resampled onto
    the image volume's grid (nearest neighbour; outside the label is background), written as NRRD."""
    image = itk.imread(str(image_path))
    label = itk.imread(str(label_path), itk.UC)
    interpolator = itk.NearestNeighborInterpolateImageFunction[type(label), itk.D].New()
    resampled = itk.resample_image_filter(
        label,
        interpolator=interpolator,
        size=itk.size(image),
        output_spacing=image.GetSpacing(),
        output_origin=image.GetOrigin(),
        output_direction=image.GetDirection(),
        default_pixel_value=0,
    )
    itk.imwrite(resampled, str(out_path))
    return out_path


def _dice(label, truth) -> dict:
    scores = multilabel_dice(label, truth)
    return {name: scores[name] for name in LEVEL_LABELS if (truth == LEVEL_LABELS[name]).any()}


def test_a_slicer_round_trip_keeps_every_levels_dice(models, phantom_store, tmp_path):
    studies, datastore = phantom_store
    for image_id in sorted(datastore.list_images()):
        truth = read_label_map(studies / "labels" / "final" / f"{image_id}.nii.gz")
        label_file, result = _infer(models, "levels", datastore.get_image_uri(image_id))
        if set(VERTEBRAE) <= set(result["levels"]["found"]) and set(VERTEBRAE) <= set(_dice(truth, truth)):
            break
    else:
        raise AssertionError("no phantom film with C2-C7 visible and found by the shipped levels model")
    image_path = datastore.get_image_uri(image_id)
    predicted = read_label_map(label_file)
    before = _dice(predicted, truth)
    assert min(before.values()) > 0.8, before

    submitted = _slicer_submit(image_path, label_file, tmp_path / "submitted.nrrd")
    label_info = [{"name": name, "idx": value} for name, value in LEVEL_LABELS.items()]
    datastore.save_label(image_id, str(submitted), "final", {"label_info": label_info})
    stored_path = studies / "labels" / "final" / f"{image_id}.nii.gz"
    stored = read_label_map(stored_path)
    after = _dice(stored, truth)
    for name in before:
        assert after[name] == pytest.approx(before[name], abs=0.01), (name, before[name], after[name])
    assert label_geometry(stored_path).differences(read_radiograph(image_path).viewer_geometry) == []

    # The same round trip on a label written at the measurement spacing (as labels were before they carried the
    # viewer's grid): Slicer scales it by the magnification and the stored label loses the levels.
    legacy = write_label_map(tmp_path / "legacy.nrrd", predicted, read_radiograph(image_path).spacing_mm)
    resampled = read_label_map(_slicer_submit(image_path, legacy, tmp_path / "legacy_submitted.nrrd"))
    assert min(_dice(resampled, truth).values()) < min(before.values()) - 0.1


def test_a_label_on_a_coarser_grid_of_the_image_is_resampled_and_one_off_the_image_refused(phantom_store, tmp_path):
    studies, datastore = phantom_store
    image_id = sorted(datastore.list_images())[-1]
    truth = read_label_map(studies / "labels" / "final" / f"{image_id}.nii.gz").astype(np.uint8)
    grid = read_radiograph(datastore.get_image_uri(image_id)).viewer_geometry
    # The image's extent at twice the spacing: coarse pixel (i, j) covers fine pixels 2i, 2i + 1 (rows and columns).
    coarse_origin = np.asarray(grid.origin) + grid.direction_matrix @ (np.asarray(grid.spacing) * [0.5, 0.5, 0.0])
    size = ((grid.size[0] + 1) // 2, (grid.size[1] + 1) // 2, 1)
    coarse = ViewerGeometry.from_affine(
        size, np.asarray(grid.spacing) * [2, 2, 1], coarse_origin, grid.direction_matrix
    )
    path = write_label_map(tmp_path / "coarse.nrrd", truth[::2, ::2], coarse)
    datastore.save_label(image_id, str(path), "final", {})
    stored = read_label_map(studies / "labels" / "final" / f"{image_id}.nii.gz")
    assert stored.shape == truth.shape
    assert min(_dice(stored, truth).values()) > 0.9
    info = datastore.get_label_info(image_id, "final")
    assert "resampled by nearest neighbour" in info["geometry_note"]

    away = dataclasses.replace(coarse, origin=(coarse.origin[0] + 1000.0, *coarse.origin[1:]))
    path = write_label_map(tmp_path / "away.nrrd", truth[::2, ::2], away)
    with pytest.raises(HTTPException) as caught:
        datastore.save_label(image_id, str(path), "final", {})
    assert caught.value.status_code == 400 and "does not overlap the image" in caught.value.detail
