"""The noise-free attenuation line integral of a phantom patient: sum over structures of mu_i * t_i.

Bone and air displace soft tissue, so each structure adds (mu_i - mu_soft) * t_i on top of the soft tissue of the
neck and shoulders. Attenuation coefficients are per mm at about 45 keV effective energy (clinical.md:
soft tissue 0.23-0.27 /cm, cortical bone 0.8-1.3 /cm, cancellous 0.35-0.5 /cm, air about 0).
"""

from __future__ import annotations

import numpy as np

from lib.phantom.anatomy import BODY_LEVELS
from lib.phantom.patient import PatientSpec
from lib.phantom.raster import bbox, edge_distances, shelled_ellipse, shelled_polygon
from lib.phantom.scene_bones import Bone, head_and_shoulder_bones, spine_bones
from lib.phantom.scene_soft import soft_tissue_mm

MU_PER_MM = {"soft": 0.025, "cortical": 0.105, "cancellous": 0.045, "air": 0.0}
BODY_WIDTH_PER_DEPTH = 1.2  # transverse width of a cervical body relative to its AP depth
CORTEX_MM = 1.0


def _add(acc: np.ndarray, box, cortical: np.ndarray, inner: np.ndarray, inner_material: str) -> None:
    acc[box] += (MU_PER_MM["cortical"] - MU_PER_MM["soft"]) * cortical
    acc[box] += (MU_PER_MM[inner_material] - MU_PER_MM["soft"]) * inner


def add_vertebral_body(acc: np.ndarray, corners_px: np.ndarray, width_mm: float, px_per_mm: float) -> None:
    """A body seen laterally: elliptical axial section (AP x transverse) extruded between flat endplates.

    corners_px: [4, 2] (x, y) ordered anterior-superior, anterior-inferior, posterior-inferior, posterior-superior.
    The cortical shell (1 mm) is crossed tangentially at the walls and across the whole section at the endplates,
    which is what makes walls and endplates show as bright lines.
    """
    box = bbox(corners_px, acc.shape)
    if box is None:
        return
    d_ant, d_inf, d_post, d_sup = edge_distances(corners_px, box)
    half = np.maximum(0.5 * (d_ant + d_post), 1e-3)
    x = 0.5 * (d_post - d_ant)
    inside = (d_ant > 0) & (d_post > 0) & (d_inf > 0) & (d_sup > 0)
    outer = np.where(inside, width_mm * np.sqrt(np.clip(1.0 - (x / half) ** 2, 0.0, None)), 0.0)
    cortex_px = CORTEX_MM * px_per_mm
    half_in = np.maximum(half - cortex_px, 1e-3)
    core = inside & (d_inf > cortex_px) & (d_sup > cortex_px)
    inner = np.where(core, (width_mm - 2 * CORTEX_MM) * np.sqrt(np.clip(1.0 - (x / half_in) ** 2, 0.0, None)), 0.0)
    _add(acc, box, (outer - inner).astype(np.float32), inner.astype(np.float32), "cancellous")


def _draw(acc: np.ndarray, spec: PatientSpec, bone: Bone, shift_mm: np.ndarray) -> None:
    s = spec.px_per_mm
    if bone.outline_mm is not None:
        out = shelled_polygon(
            spec.to_px(bone.outline_mm + shift_mm), acc.shape, bone.thickness_mm, bone.roll_mm * s, bone.cortex_mm, s
        )
    else:
        centre, axes, angle = bone.ellipse_mm
        # Anatomical y points up and image rows down, so angles flip sign.
        out = shelled_ellipse(
            spec.to_px(centre + shift_mm),
            (axes[0] * s, axes[1] * s),
            -angle,
            acc.shape,
            bone.thickness_mm,
            bone.cortex_mm,
            s,
        )
    if out is not None:
        _add(acc, out[0], out[1], out[2], bone.inner)


def line_integral(spec: PatientSpec) -> np.ndarray:
    """Noise-free sum of mu * path length, float32 [rows, cols], dimensionless (ln of attenuation)."""
    acc = (MU_PER_MM["soft"] * soft_tissue_mm(spec)).astype(np.float32)
    for level in BODY_LEVELS:
        body = spec.spine.bodies[level]
        corners = np.array(
            [
                body.corners[k]
                for k in ("anterior_superior", "anterior_inferior", "posterior_inferior", "posterior_superior")
            ]
        )
        depth = float(np.linalg.norm(corners[1] - corners[2]))
        add_vertebral_body(acc, spec.to_px(corners), BODY_WIDTH_PER_DEPTH * depth, spec.px_per_mm)
    single, paired = spine_bones(spec)
    # A slightly rotated neck separates left and right posterior elements into double contours.
    c7 = spec.spine.bodies["C7"]
    offset = 0.5 * spec.acquisition["rotation_offset_mm"] * (0.8 * c7.u + 0.6 * c7.v)
    for bone in single + head_and_shoulder_bones(spec):
        _draw(acc, spec, bone, np.zeros(2))
    for bone in paired:
        _draw(acc, spec, bone, offset)
        _draw(acc, spec, bone, -offset)
    return acc
