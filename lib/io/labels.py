"""Level label maps on disk: the names and ids of ``design.md``, the geometry Slicer expects, remapping by name.

In memory a label map is uint8 ``[rows, cols]`` with the canonical ids below. On disk it is a ``W x H x 1``
volume (how 3D Slicer holds a 2D image) on the radiograph's viewer geometry (``lib.io.geometry``: the size,
spacing, origin and direction ITK reads the image file with), so Slicer places it on the image.
Labels that come back from clients carry their own segment order; ``remap_by_name`` turns them canonical.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

import nibabel as nib
import nrrd
import numpy as np

from lib.anatomy.names import LEVEL_LABELS, is_finding_name
from lib.core.errors import BadInputError, ImageTooLargeError
from lib.io.geometry import ViewerGeometry, overlap_and_resample, reach_beyond, read_viewer_geometry

LABEL_SUFFIXES = (".nii.gz", ".nii", ".seg.nrrd", ".nrrd")


def distinct_label_values(label: np.ndarray) -> set[int]:
    """The distinct values in a label map. Whole numbers from 0 to 65535 (every label map this app reads) are
    counted with ``np.bincount``, milliseconds for a film-sized map, rather than sorted by ``np.unique`` (about
    0.17 s, most of the time it took to read a training label)."""
    values = np.asarray(label)
    if values.size and (values.dtype.kind in "biu") and 0 <= values.min() and values.max() < 65536:
        return {int(v) for v in np.flatnonzero(np.bincount(values.ravel().astype(np.intp, copy=False)))}
    return {int(v) for v in np.unique(values)}


def write_label_map(
    path: str | Path, label_hw: np.ndarray, geometry: ViewerGeometry | tuple[float, float] | None
) -> Path:
    """Write a uint8 ``[rows, cols]`` label map as ``W x H x 1`` NIfTI (``.nii``/``.nii.gz``) or NRRD, atomically.

    geometry: the radiograph's ``ViewerGeometry`` (``Radiograph.label_geometry()``), which the file then carries
    exactly; NIfTI stores RAS, so ITK's LPS axes are converted. A bare ``(row_mm, col_mm)`` spacing or None (a label
    with no radiograph behind it) gives the app's default grid: that spacing (1 mm when None), origin 0, LPS axes
    along columns and rows.
    """
    path = Path(path)
    label = np.asarray(label_hw)
    if label.ndim != 2:
        raise BadInputError(f"label map must be 2D [rows, cols]; got shape {label.shape}")
    if not isinstance(geometry, ViewerGeometry):
        geometry = ViewerGeometry.default(label.shape, geometry, "app default grid")
    if geometry.shape != label.shape:
        raise BadInputError(
            f"label map is {label.shape[1]} x {label.shape[0]} but its geometry is {geometry.size[0]} x "
            f"{geometry.size[1]}"
        )
    volume = np.ascontiguousarray(label.astype(np.uint8).T[:, :, None])  # [x = col, y = row, 1]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=_suffix(path), prefix=".tmp-")
    os.close(fd)
    try:
        if path.name.endswith((".nii.gz", ".nii")):
            image = nib.Nifti1Image(volume, geometry.nifti_affine())
            image.header.set_qform(geometry.nifti_affine(), code=1)  # ITK reads the qform first
            image.header.set_sform(geometry.nifti_affine(), code=1)
            image.header.set_xyzt_units("mm")
            nib.save(image, tmp)
        elif path.name.endswith(".nrrd"):
            header = {
                "space": "left-posterior-superior",
                "space directions": geometry.nrrd_space_directions(),
                "space origin": np.asarray(geometry.origin, dtype=float),
                "kinds": ["domain", "domain", "domain"],
                "encoding": "gzip",
            }
            nrrd.write(tmp, volume, header)
        else:
            raise BadInputError(f"{path.name}: label maps are written as .nii.gz, .nii or .nrrd")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _suffix(path: Path) -> str:
    for suffix in LABEL_SUFFIXES:
        if path.name.endswith(suffix):
            return suffix
    return path.suffix


def check_label_pixels(path: str | Path, max_pixels: int, name: str = "label") -> None:
    """Refuse a label file whose header declares more than ``max_pixels`` voxels, before its data are read.

    A label compresses well: a few hundred kilobytes of gzip can declare 20000 x 20000 voxels, gigabytes once
    decoded. NIfTI (nibabel reads the header and leaves the data on disk), NRRD (``nrrd.read_header``) and PNG (PIL
    reads the size at open) are sized from their headers alone. Raises ``ImageTooLargeError`` or ``BadInputError``.
    """
    path = Path(path)
    try:
        if path.name.endswith((".nii.gz", ".nii")):
            shape = tuple(int(s) for s in nib.load(str(path)).shape)
        elif path.name.endswith(".nrrd"):
            shape = tuple(int(s) for s in nrrd.read_header(str(path)).get("sizes", ()))
        elif path.suffix.lower() == ".png":
            shape = _png_size(path)
        else:
            raise BadInputError(f"{path.name}: label files must be .nii.gz, .nii, .nrrd, .seg.nrrd or .png")
    except (OSError, EOFError, ValueError, nrrd.NRRDError, nib.filebasedimages.ImageFileError) as exc:
        raise BadInputError(f"{path.name}: label file is truncated or corrupt ({exc})") from None
    voxels = int(np.prod(shape, dtype=np.int64)) if shape else 0
    if voxels > max_pixels:
        raise ImageTooLargeError(
            f"{name} is {' x '.join(map(str, shape))} = {voxels:,} voxels, over the limit of {max_pixels:,} "
            "(setting max_image_pixels)"
        )


def _png_size(path: Path) -> tuple[int, int]:
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                return picture.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{path.name}: label picture is too large to decode ({exc})") from None


def read_label_map(path: str | Path) -> np.ndarray:
    """Read a label file (NIfTI, NRRD, Slicer ``.seg.nrrd`` with one layer, or PNG) as ``[rows, cols]`` integers.

    Row ``r``, column ``c`` is ITK's index ``(x = c, y = r)``; the grid it lies on is ``label_geometry(path)``.
    """
    path = Path(path)
    try:
        if path.name.endswith((".nii.gz", ".nii")):
            values = np.asarray(nib.load(str(path)).dataobj)
        elif path.name.endswith(".nrrd"):
            values, _ = nrrd.read(str(path))
        elif path.suffix.lower() == ".png":
            from PIL import Image

            with Image.open(path) as picture:
                return np.asarray(picture).astype(np.int32)
        else:
            raise BadInputError(f"{path.name}: label files must be .nii.gz, .nii, .nrrd, .seg.nrrd or .png")
    except (OSError, EOFError, ValueError, nrrd.NRRDError, nib.filebasedimages.ImageFileError) as exc:
        raise BadInputError(f"{path.name}: label file is truncated or corrupt ({exc})") from None
    extra = [s for s in values.shape[2:] if s != 1]
    if values.ndim < 2 or extra:
        raise BadInputError(
            f"{path.name}: label of shape {'x'.join(map(str, values.shape))} is not a 2D map (W x H or W x H x 1)"
        )
    if not np.issubdtype(values.dtype, np.integer):
        if not np.allclose(values, np.round(values)):
            raise BadInputError(f"{path.name}: label values must be whole numbers; got {values.dtype} with fractions")
    return np.ascontiguousarray(values.reshape(values.shape[:2]).T).astype(np.int32)


def label_geometry(path: str | Path) -> ViewerGeometry | None:
    """The grid of a label file as ITK (and Slicer) reads it; None for a PNG, which carries none.

    Raises ``BadInputError`` when ITK cannot read the file.
    """
    if Path(path).suffix.lower() == ".png":
        return None
    return read_viewer_geometry(path)


def drop_findings(label: np.ndarray, names_by_value: Mapping[int, str]) -> tuple[np.ndarray, dict[int, str], list[str]]:
    """Zero the pixels of finding overlays (a pipeline result saved back as a label) and drop their names.

    Returns the label, the remaining names and the names dropped, so the caller can record what was ignored.
    """
    dropped = {int(v): str(n) for v, n in names_by_value.items() if is_finding_name(n)}
    if not dropped:
        return label, dict(names_by_value), []
    cleaned = np.where(np.isin(label, list(dropped)), 0, label)
    kept = {int(v): n for v, n in names_by_value.items() if int(v) not in dropped}
    return cleaned, kept, sorted(dropped.values())


def remap_by_name(label: np.ndarray, names_by_value: Mapping[int, str]) -> np.ndarray:
    """Turn a label map in a client's own segment order into canonical ids (``LEVEL_LABELS``).

    ``names_by_value`` maps each value in ``label`` to a segment name. Names are matched case-insensitively;
    an unknown name or a value with no name raises ``BadInputError`` naming them.
    """
    canonical = {name.lower(): idx for name, idx in LEVEL_LABELS.items()}
    unknown = sorted({str(n) for n in names_by_value.values() if str(n).strip().lower() not in canonical})
    if unknown:
        raise BadInputError(f"label names {unknown} are not known; allowed: {', '.join(LEVEL_LABELS)}")
    present = distinct_label_values(label) - {0}
    unnamed = sorted(present - {int(k) for k in names_by_value})
    if unnamed:
        raise BadInputError(f"label values {unnamed} have no name in label_info; name every segment")
    lookup = np.zeros(max(present | {int(k) for k in names_by_value} | {0}) + 1, dtype=np.uint8)
    for value, name in names_by_value.items():
        lookup[int(value)] = canonical[str(name).strip().lower()]
    return lookup[np.asarray(label, dtype=np.int64)]


def label_onto_image_grid(
    label: np.ndarray, grid: ViewerGeometry | None, image_grid: ViewerGeometry, name: str = "label"
) -> tuple[np.ndarray, str]:
    """A submitted label map on the image's grid, and a note of what was done to it ("" when nothing).

    - the image's size: taken index for index, as is. When the file's own geometry differs (a label written by a tool
      that knows no geometry, or by this app before labels carried the viewer geometry) the note says how;
    - another size, on a grid that lies on the image (same plane, its edges within one pixel of the image's or
      inside them: the image's extent on another pixel grid, or a region of it): resampled by physical position onto
      the image's grid with ITK, nearest neighbour, as Slicer's export onto a reference volume does; image pixels
      outside the label's grid are background;
    - another size on a grid that reaches beyond the image, lies off its plane or misses it: refused
      (``BadInputError`` naming both grids and how they differ), never stretched onto the image;
    - no geometry (PNG) and another size: refused by ``check_label_matches``.
    """
    if grid is None or tuple(label.shape) == tuple(image_grid.shape):
        differs = [] if grid is None else image_grid.differences(grid)
        note = f"{name}: same pixel grid as the image, taken index for index; its header differs ({'; '.join(differs)})"
        return label, note if differs else ""
    beyond, off_plane = reach_beyond(grid, image_grid)
    label_px = max(grid.spacing[:2]) / min(image_grid.spacing[:2])  # one label pixel, in image pixels
    resampled, covered = overlap_and_resample(label, grid, image_grid)
    problem = ""
    if off_plane > 0.5:
        problem = f"lies {off_plane:.2g} slices off the image's plane"
    elif covered == 0.0:
        problem = "does not overlap the image"
    elif beyond > max(1.0, label_px):
        problem = f"reaches {beyond:.1f} image pixels beyond the image's edges"
    if problem:
        raise BadInputError(
            f"{name} is {grid.summary()} but the image is {image_grid.summary()}: the label's grid {problem} "
            f"({'; '.join(grid.differences(image_grid))}); submit the label on the image's grid"
        )
    note = (
        f"{name}: resampled by nearest neighbour from {grid.summary()} onto the image's grid {image_grid.summary()}; "
        f"the label's grid covers {100 * covered:.1f}% of the image"
    )
    return resampled.astype(label.dtype), note


def check_label_matches(
    label: np.ndarray, image_shape: tuple[int, int], name: str = "label", allow_empty: bool = False
) -> np.ndarray:
    """Validate a canonical label map against its radiograph: same shape, known ids, not empty (unless
    ``allow_empty``: a model's answer that found nothing is still an answer)."""
    if tuple(label.shape) != tuple(image_shape):
        raise BadInputError(
            f"{name} is {label.shape[1]} x {label.shape[0]} (W x H) "
            f"but the image is {image_shape[1]} x {image_shape[0]}"
        )
    values = distinct_label_values(label)
    bad = sorted(values - set(range(len(LEVEL_LABELS) + 1)))
    if bad:
        raise BadInputError(
            f"{name} has label ids {bad}; allowed ids are 0-{len(LEVEL_LABELS)} ({', '.join(LEVEL_LABELS)})"
        )
    if values <= {0} and not allow_empty:
        raise BadInputError(f"{name} is empty: no level is labelled")
    return label.astype(np.uint8)
