"""The viewer's geometry of a radiograph: its grid exactly as ITK (and so 3D Slicer) reads the file.

Slicer downloads the image from the datastore and reads it with ITK (GDCM for DICOM), then places a returned
label map by physical position. A label therefore overlays the film only when it carries the grid ITK gives the
image file — size, spacing, origin and direction in LPS — which is not the measurement spacing of
``Radiograph.spacing_mm`` (ImagerPixelSpacing divided by the magnification factor, or PixelSpacing): GDCM reads a DX
at ImagerPixelSpacing, a DX or CR with only PixelSpacing at 1 mm, a picture at 1 mm, and NRRD and NIfTI with their
own origin and direction. ``ViewerGeometry`` is that grid, read from the file's header (``read_viewer_geometry``);
label maps are written on it (``lib.io.labels.write_label_map``) and labels on another grid are resampled onto it
with ITK (``overlap_and_resample``).

Axes follow ITK: x = column, y = row, z = the single slice of a ``W x H x 1`` volume; ``direction`` is the 3 x 3
matrix whose columns are the x, y, z axes in LPS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import itk  # its modules load lazily, on first use: seconds, once per process (``warm_up``)
import numpy as np

from lib.core.errors import BadInputError

logger = logging.getLogger(__name__)

SPACE = "LPS"
AXES = "x = column, y = row, z = the single slice; mm in LPS; direction columns are the x, y, z axes"
MEANING = (
    "the grid ITK (3D Slicer) reads the image file on, which every label map and heatmap carries; "
    "not the measurement spacing (spacing_mm)"
)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

# "Same geometry" within these: spacing relative, origin in units of the smallest in-plane spacing, direction
# cosines absolute. NIfTI stores float32, so a grid written there and read back differs by about 1e-7.
SPACING_TOLERANCE = 1e-4
ORIGIN_TOLERANCE_PX = 1e-3
DIRECTION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ViewerGeometry:
    """A ``W x H x 1`` grid as ITK reads it: ``size`` (x, y, z), ``spacing`` (mm), ``origin`` (mm, LPS), ``direction``.

    ``read_by`` names who read it (``"ITK GDCMImageIO"``, ...) or says why the app's default grid is used instead.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[tuple[float, float, float], ...]
    read_by: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the 2D map on this grid."""
        return int(self.size[1]), int(self.size[0])

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @classmethod
    def default(cls, shape: tuple[int, int], spacing_mm: tuple[float, float] | None, read_by: str) -> "ViewerGeometry":
        """The app's grid when no viewer geometry is known: ``spacing_mm`` (1 mm when unknown), origin 0, identity."""
        row_mm, col_mm = spacing_mm or (1.0, 1.0)
        return cls(
            (int(shape[1]), int(shape[0]), 1),
            (float(col_mm), float(row_mm), 1.0),
            (0.0, 0.0, 0.0),
            _rows(np.eye(3)),
            read_by,
        )

    @classmethod
    def from_affine(cls, size, spacing, origin, direction: np.ndarray, read_by: str = "") -> "ViewerGeometry":
        """From ITK-ordered sequences and a 3 x 3 direction matrix."""
        return cls(
            tuple(int(s) for s in size),
            tuple(float(s) for s in spacing),
            tuple(float(o) for o in origin),
            _rows(np.asarray(direction, dtype=float).reshape(3, 3)),
            read_by,
        )

    def describe(self) -> dict:
        """JSON-ready: ``{"size", "spacing", "origin", "direction", "space", "axes", "read_by"}``."""
        return {
            "size": list(self.size),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": [list(row) for row in self.direction],
            "space": SPACE,
            "axes": AXES,
            "read_by": self.read_by,
            "meaning": MEANING,
        }

    @classmethod
    def from_description(cls, described: dict) -> "ViewerGeometry":
        return cls.from_affine(
            described["size"],
            described["spacing"],
            described["origin"],
            np.asarray(described["direction"], float),
            described.get("read_by", ""),
        )

    def index_to_physical(self) -> np.ndarray:
        """4 x 4 matrix from (x, y, z, 1) continuous index to LPS mm."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction_matrix @ np.diag(self.spacing)
        matrix[:3, 3] = self.origin
        return matrix

    def nrrd_space_directions(self) -> np.ndarray:
        """NRRD ``space directions``: one row per axis, the axis' LPS direction times its spacing."""
        return (self.direction_matrix @ np.diag(self.spacing)).T

    def nifti_affine(self) -> np.ndarray:
        """The NIfTI affine (RAS): ITK's LPS index-to-physical matrix with its first two rows negated."""
        affine = self.index_to_physical()
        affine[:3, :] = LPS_TO_RAS @ affine[:3, :]
        return affine

    def differences(self, other: "ViewerGeometry") -> list[str]:
        """What differs between two grids beyond the tolerances, in words (empty when the same)."""
        found = []
        if tuple(self.size) != tuple(other.size):
            found.append(f"size {_fmt(self.size)} vs {_fmt(other.size)}")
        mine, theirs = np.asarray(self.spacing), np.asarray(other.spacing)
        if np.any(np.abs(mine - theirs) > SPACING_TOLERANCE * np.maximum(mine, theirs)):
            found.append(f"spacing {_fmt(self.spacing)} vs {_fmt(other.spacing)} mm")
        scale = ORIGIN_TOLERANCE_PX * float(min(self.spacing[:2] + other.spacing[:2]))
        if np.any(np.abs(np.asarray(self.origin) - np.asarray(other.origin)) > scale):
            found.append(f"origin {_fmt(self.origin)} vs {_fmt(other.origin)} mm")
        if np.any(np.abs(self.direction_matrix - other.direction_matrix) > DIRECTION_TOLERANCE):
            found.append(f"direction {_fmt(self.direction)} vs {_fmt(other.direction)}")
        return found

    def summary(self) -> str:
        return f"{self.size[0]} x {self.size[1]} at {_fmt(self.spacing[:2])} mm, origin {_fmt(self.origin)} mm"


def _rows(matrix: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)


def _fmt(values) -> str:
    flat = np.asarray(values, dtype=float).ravel()
    return "(" + ", ".join(f"{v:.6g}" for v in flat) + ")"


def warm_up() -> None:
    """Load the ITK modules the app uses now (seconds, once per process) rather than in the first request."""
    itk.ImageFileReader[itk.Image[itk.F, 3]]
    itk.NearestNeighborInterpolateImageFunction[itk.Image[itk.UC, 3], itk.D]
    itk.ResampleImageFilter[itk.Image[itk.UC, 3], itk.Image[itk.UC, 3]]


def read_viewer_geometry(path: str | Path) -> ViewerGeometry:
    """The grid ITK gives ``path``, read from its header as a 3D image (as Slicer reads every volume).

    Raises ``BadInputError`` when ITK cannot read the file.
    """
    reader = itk.ImageFileReader[itk.Image[itk.F, 3]].New(FileName=str(path))
    try:
        reader.UpdateOutputInformation()
    except RuntimeError as exc:
        reason = _itk_reason(exc, path)
        raise BadInputError(f"{Path(path).name}: ITK cannot read the file's header ({reason})") from None
    image = reader.GetOutput()
    io_name = reader.GetImageIO().GetNameOfClass()
    return ViewerGeometry.from_affine(
        tuple(image.GetLargestPossibleRegion().GetSize()),
        tuple(image.GetSpacing()),
        tuple(image.GetOrigin()),
        itk.array_from_matrix(image.GetDirection()),
        f"ITK {io_name}",
    )


def _itk_reason(exc: Exception, path) -> str:
    """The first line of ITK's message that says something (not its source location), without the path."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and ".hxx:" not in line]
    return (lines[0] if lines else type(exc).__name__).replace(str(path), "").strip()[:200]


def viewer_geometry_of(
    path: str | Path, shape: tuple[int, int], spacing_mm: tuple[float, float] | None, warnings: list[str]
) -> ViewerGeometry:
    """The viewer geometry of a radiograph file already read as ``shape`` pixels; the app's default grid, with a
    warning, when ITK cannot read it or reads another size (then no viewer shows it as this app does)."""
    try:
        geometry = read_viewer_geometry(path)
    except BadInputError as exc:
        reason = f"ITK cannot read the file ({exc})"
    else:
        if geometry.shape == tuple(shape):
            return geometry
        reason = f"ITK reads {geometry.size[0]} x {geometry.size[1]}, the app {shape[1]} x {shape[0]}"
    warnings.append(f"viewer geometry unknown: {reason}; label maps use the measurement spacing, origin 0")
    logger.warning("%s: %s", Path(path).name, reason)
    return ViewerGeometry.default(shape, spacing_mm, f"app default grid: {reason}")


def reach_beyond(grid: ViewerGeometry, target: ViewerGeometry) -> tuple[float, float]:
    """How ``grid`` lies against ``target``: ``(pixels of target its outer edges reach beyond target's in x or y, 0
    when inside; distance of its plane from target's slice in target's slices)``."""
    edges_x, edges_y = (-0.5, grid.size[0] - 0.5), (-0.5, grid.size[1] - 0.5)
    corners = np.array([[x, y, 0.0, 1.0] for x in edges_x for y in edges_y]).T
    in_target = (np.linalg.inv(target.index_to_physical()) @ grid.index_to_physical() @ corners)[:3].T
    below = -0.5 - in_target[:, :2]
    above = in_target[:, :2] - (np.asarray(target.size[:2], dtype=float) - 0.5)
    return float(max(0.0, below.max(), above.max())), float(np.abs(in_target[:, 2]).max())


def overlap_and_resample(
    label_hw: np.ndarray, label_geometry: ViewerGeometry, target: ViewerGeometry
) -> tuple[np.ndarray, float]:
    """``label_hw`` on ``label_geometry`` resampled onto ``target`` by nearest neighbour with ITK (as Slicer's
    export onto a reference volume does): ``(uint8 [rows, cols] on target, fraction of target pixels the label's
    grid covers)``. Pixels outside the label's grid are background."""
    values = np.asarray(label_hw)
    if values.shape != label_geometry.shape:
        raise BadInputError(f"label is {values.shape[1]} x {values.shape[0]} but its header says {label_geometry.size}")
    if values.size and (values.min() < 0 or values.max() > 254):
        raise BadInputError(f"label values {int(values.min())}-{int(values.max())}; 0-254 can be resampled")
    # +1 inside the label's grid, so the default 0 marks target pixels the label does not cover.
    source = itk.image_from_array(np.ascontiguousarray(values.astype(np.uint8)[None] + np.uint8(1)))
    source.SetSpacing(label_geometry.spacing)
    source.SetOrigin(label_geometry.origin)
    source.SetDirection(itk.matrix_from_array(label_geometry.direction_matrix))
    interpolator = itk.NearestNeighborInterpolateImageFunction[type(source), itk.D].New()
    resampled = itk.resample_image_filter(
        source,
        interpolator=interpolator,
        size=[int(s) for s in target.size],
        output_spacing=target.spacing,
        output_origin=target.origin,
        output_direction=itk.matrix_from_array(target.direction_matrix),
        default_pixel_value=0,
    )
    out = itk.array_from_image(resampled)[0]  # [z, y, x] -> the one slice, [rows, cols]
    inside = out > 0
    return np.where(inside, out - 1, 0).astype(np.uint8), float(inside.mean())
