"""One film written as every kind of radiograph file the app reads, each with the geometry that makes it different
for a viewer, and the grid a viewer (3D Slicer) reads such a file on."""

from __future__ import annotations

from pathlib import Path

import itk
import nibabel as nib
import nrrd
import numpy as np
from PIL import Image

from tests.dicom_factory import make_dx, save

CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DETECTOR_MM = 0.15
MAGNIFICATION = 1.12
NRRD_ORIGIN = (12.5, -30.0, 4.0)
NRRD_DIRECTION = np.diag([-1.0, 1.0, 1.0])  # x flipped: columns run to patient right
NRRD_SPACING = (0.14, 0.16)  # x (column), y (row)
NIFTI_AFFINE = np.array([[0.2, 0, 0, 5.0], [0, 0.2, 0, 7.0], [0, 0, 1.0, -3.0], [0, 0, 0, 1]])  # RAS

KINDS = ("dx_magnified", "dx_pixel_spacing", "cr_pixel_spacing", "png", "nrrd_flipped", "nifti")


def write_kind(kind: str, image: np.ndarray, folder: Path, name: str = "") -> Path:
    """``image`` (float [rows, cols] in [0, 1], bone bright) written as ``kind`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / (name or kind)
    stored = np.round(np.clip(image, 0, 1) * 4095).astype(np.uint16)
    window = {"WindowCenter": "2048", "WindowWidth": "4096"}
    if kind == "dx_magnified":  # GDCM reads a DX at ImagerPixelSpacing; measurements divide by the magnification
        tags = {"ImagerPixelSpacing": [DETECTOR_MM] * 2, "EstimatedRadiographicMagnificationFactor": MAGNIFICATION}
        return save(make_dx(stored, **tags, **window), stem.with_suffix(".dcm"))
    if kind == "dx_pixel_spacing":  # GDCM ignores PixelSpacing on a DX: read at 1 mm
        return save(make_dx(stored, PixelSpacing=[DETECTOR_MM] * 2, **window), stem.with_suffix(".dcm"))
    if kind == "cr_pixel_spacing":  # and on a CR
        ds = make_dx(stored, SOPClassUID=CR_STORAGE, PixelSpacing=[DETECTOR_MM] * 2, **window)
        ds.Modality = "CR"
        return save(ds, stem.with_suffix(".dcm"))
    if kind == "png":
        path = stem.with_suffix(".png")
        Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(path)
        return path
    if kind == "nrrd_flipped":
        path = stem.with_suffix(".nrrd")
        header = {
            "space": "left-posterior-superior",
            "space directions": (NRRD_DIRECTION @ np.diag([*NRRD_SPACING, 1.0])).T,
            "space origin": np.asarray(NRRD_ORIGIN),
            "kinds": ["domain"] * 3,
        }
        nrrd.write(str(path), np.ascontiguousarray(stored.T[:, :, None]), header)
        return path
    if kind == "nifti":
        path = Path(f"{stem}.nii.gz")
        nib.save(nib.Nifti1Image(np.ascontiguousarray(stored.T[:, :, None]), NIFTI_AFFINE), str(path))
        return path
    raise ValueError(kind)


def slicer_grid(path) -> dict:
    """``{"size", "spacing", "origin", "direction"}`` of ``path`` read with ``itk.imread``, as Slicer reads it: a
    2D picture becomes a one-slice volume (z spacing 1, origin 0, identity), as Slicer holds every image."""
    image = itk.imread(str(path))
    size = list(itk.size(image))
    spacing, origin = list(image.GetSpacing()), list(image.GetOrigin())
    direction = itk.array_from_matrix(image.GetDirection())
    if image.GetImageDimension() == 2:
        size, spacing, origin = size + [1], spacing + [1.0], origin + [0.0]
        direction = np.block([[direction, np.zeros((2, 1))], [np.zeros((1, 2)), np.ones((1, 1))]])
    return {"size": size, "spacing": spacing, "origin": origin, "direction": np.asarray(direction)}


def assert_same_grid(label_path, image_path) -> None:
    """The label file lies on the image file's grid as Slicer reads both."""
    label, image = slicer_grid(label_path), slicer_grid(image_path)
    assert label["size"] == image["size"], (label["size"], image["size"])
    np.testing.assert_allclose(label["spacing"], image["spacing"], rtol=1e-6)
    np.testing.assert_allclose(label["origin"], image["origin"], atol=1e-5)
    np.testing.assert_allclose(label["direction"], image["direction"], atol=1e-6)
