"""The viewer's geometry: every radiograph kind records the grid ITK reads it on, apart from its measurement spacing;
label maps are written on that grid (NRRD and NIfTI) and labels on other grids are resampled onto it or refused."""

import itk
import numpy as np
import pytest

from lib.core.errors import BadInputError
from lib.io.geometry import ViewerGeometry, read_viewer_geometry, viewer_geometry_of
from lib.io.labels import label_geometry, label_onto_image_grid, read_label_map, write_label_map
from lib.io.reader import read_radiograph
from tests.image_kinds import DETECTOR_MM, KINDS, MAGNIFICATION, NRRD_ORIGIN, slicer_grid, write_kind

# What the app measures with and what ITK reads, per kind: (spacing_mm [row, col], viewer spacing [x, y]).
EXPECTED = {
    "dx_magnified": ((DETECTOR_MM / MAGNIFICATION,) * 2, (DETECTOR_MM,) * 2),
    "dx_pixel_spacing": ((DETECTOR_MM,) * 2, (1.0, 1.0)),
    "cr_pixel_spacing": ((DETECTOR_MM,) * 2, (1.0, 1.0)),
    "png": (None, (1.0, 1.0)),
    "nrrd_flipped": ((0.16, 0.14), (0.14, 0.16)),
    "nifti": ((0.2, 0.2), (0.2, 0.2)),
}


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    rows, cols = np.mgrid[0:48, 0:36]
    image = ((rows * 3 + cols) % 97) / 96.0
    return {kind: write_kind(kind, image, folder) for kind in KINDS}


def _as_grid(geometry: ViewerGeometry) -> dict:
    return {
        "size": list(geometry.size),
        "spacing": list(geometry.spacing),
        "origin": list(geometry.origin),
        "direction": geometry.direction_matrix,
    }


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_records_itks_grid_apart_from_its_measurement_spacing(films, kind):
    image = read_radiograph(films[kind])
    expected = slicer_grid(films[kind])
    got = _as_grid(image.viewer_geometry)
    assert got["size"] == expected["size"] == [36, 48, 1]
    np.testing.assert_allclose(got["spacing"], expected["spacing"])
    np.testing.assert_allclose(got["origin"], expected["origin"])
    np.testing.assert_allclose(got["direction"], expected["direction"])
    spacing_mm, viewer_xy = EXPECTED[kind]
    np.testing.assert_allclose(got["spacing"][:2], viewer_xy, rtol=1e-6)
    if spacing_mm is None:
        assert image.spacing_mm is None
    else:
        np.testing.assert_allclose(image.spacing_mm, spacing_mm, rtol=1e-6)
    described = image.describe()
    assert described["viewer_geometry"]["spacing"] == list(image.viewer_geometry.spacing)
    assert described["viewer_geometry"]["read_by"].startswith("ITK ")
    assert described["spacing_mm"] == (list(image.spacing_mm) if image.spacing_mm else None)


def test_nrrd_and_nifti_keep_origin_and_direction(films):
    nrrd_grid = read_radiograph(films["nrrd_flipped"]).viewer_geometry
    assert nrrd_grid.origin == pytest.approx(NRRD_ORIGIN)
    assert np.diag(nrrd_grid.direction_matrix) == pytest.approx([-1.0, 1.0, 1.0])
    nifti_grid = read_radiograph(films["nifti"]).viewer_geometry  # RAS affine, read in LPS
    assert nifti_grid.origin == pytest.approx((-5.0, -7.0, -3.0))
    assert np.diag(nifti_grid.direction_matrix) == pytest.approx([-1.0, -1.0, 1.0])


@pytest.mark.parametrize("kind", ["nrrd_flipped", "nifti", "dx_magnified"])
@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_label_maps_are_written_on_the_images_grid(films, tmp_path, kind, suffix):
    image = read_radiograph(films[kind])
    label = np.zeros(image.shape, np.uint8)
    label[5:12, 3:9], label[20:30, 10:14] = 1, 7
    path = write_label_map(tmp_path / f"label{suffix}", label, image.label_geometry())
    written, expected = slicer_grid(path), slicer_grid(films[kind])
    assert written["size"] == expected["size"]
    np.testing.assert_allclose(written["spacing"], expected["spacing"], rtol=1e-6)
    np.testing.assert_allclose(written["origin"], expected["origin"], atol=1e-5)
    np.testing.assert_allclose(written["direction"], expected["direction"], atol=1e-6)
    np.testing.assert_array_equal(itk.array_from_image(itk.imread(str(path)))[0], label)  # ITK index = [row, col]
    np.testing.assert_array_equal(read_label_map(path), label)
    assert label_geometry(path).differences(image.label_geometry()) == []


def test_label_without_a_radiograph_gets_the_default_grid(tmp_path):
    path = write_label_map(tmp_path / "l.nrrd", np.ones((4, 6), np.uint8), (0.2, 0.1))
    grid = label_geometry(path)
    assert grid.spacing == pytest.approx((0.1, 0.2, 1.0)) and grid.origin == (0.0, 0.0, 0.0)
    with pytest.raises(BadInputError, match="geometry is 5 x 4"):
        write_label_map(tmp_path / "m.nrrd", np.ones((4, 6), np.uint8), ViewerGeometry.default((4, 5), None, ""))


def test_a_file_itk_cannot_read_falls_back_to_the_default_grid_with_a_warning(tmp_path):
    path = tmp_path / "picture.bin"
    path.write_bytes(b"not an image")
    with pytest.raises(BadInputError, match="ITK cannot read"):
        read_viewer_geometry(path)
    warnings = []
    grid = viewer_geometry_of(path, (4, 5), (0.3, 0.2), warnings)
    assert grid.size == (5, 4, 1) and grid.spacing == (0.2, 0.3, 1.0) and grid.read_by.startswith("app default")
    assert warnings and warnings[0].startswith("viewer geometry unknown")


@pytest.fixture
def image_grid():
    return ViewerGeometry.from_affine((40, 60, 1), (0.15, 0.15, 1.0), (10.0, -5.0, 0.0), np.diag([-1.0, 1.0, 1.0]))


@pytest.fixture
def truth():
    label = np.zeros((60, 40), np.uint8)
    label[10:20, 8:24], label[30:44, 6:30], label[:, 32:36] = 1, 2, 7
    return label


def test_a_label_on_the_images_grid_is_stored_as_is(image_grid, truth):
    label, note = label_onto_image_grid(truth, image_grid, image_grid)
    assert label is truth and note == ""


def test_same_size_with_another_header_is_taken_index_for_index_and_noted(image_grid, truth):
    legacy = ViewerGeometry.default(truth.shape, (0.134, 0.134), "app default grid")
    label, note = label_onto_image_grid(truth, legacy, image_grid)
    assert label is truth and "index for index" in note and "spacing" in note and "origin" in note


def test_a_label_on_a_finer_grid_of_the_same_extent_is_resampled_onto_the_image(image_grid, truth):
    # Twice as fine over the same area: pixel centres of the image fall on every other fine pixel.
    fine_origin = np.asarray(image_grid.origin) + image_grid.direction_matrix @ [-0.0375, -0.0375, 0.0]
    fine = ViewerGeometry.from_affine((80, 120, 1), (0.075, 0.075, 1.0), fine_origin, image_grid.direction_matrix)
    label, note = label_onto_image_grid(np.kron(truth, np.ones((2, 2), np.uint8)), fine, image_grid)
    np.testing.assert_array_equal(label, truth)
    assert "resampled by nearest neighbour" in note and "100.0%" in note


def test_a_cropped_label_is_placed_by_its_origin(image_grid, truth):
    crop = truth[30:44, 6:30]  # the region of label 2 alone, as a .seg.nrrd cropped to its segment holds it
    origin = np.asarray(image_grid.origin) + image_grid.direction_matrix @ [6 * 0.15, 30 * 0.15, 0.0]
    cropped = ViewerGeometry.from_affine((24, 14, 1), image_grid.spacing, origin, image_grid.direction_matrix)
    label, _ = label_onto_image_grid(crop, cropped, image_grid)
    np.testing.assert_array_equal(label, np.where(truth == 2, 2, 0))


@pytest.mark.parametrize(
    "origin, spacing, problem",
    [
        ((500.0, 0.0, 0.0), 0.15, "does not overlap the image"),
        ((10.0, -5.0, 7.0), 0.15, "slices off the image's plane"),
        ((10.0, -5.0, 0.0), 1.0, "beyond the image's edges"),  # a label at 1 mm: 6.7 times the image's extent
    ],
)
def test_a_label_off_the_image_is_refused_naming_the_mismatch(image_grid, truth, origin, spacing, problem):
    grid = ViewerGeometry.from_affine((40, 50, 1), (spacing, spacing, 1.0), origin, image_grid.direction_matrix)
    with pytest.raises(BadInputError, match="but the image is 40 x 60") as caught:
        label_onto_image_grid(truth[:50], grid, image_grid, name="label for x")
    assert problem in str(caught.value)
