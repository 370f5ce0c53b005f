"""The film-style attenuation line integral: bodies with curved outlines and textured cores, rounded posterior
elements drawn twice (left and right), the dens, C1, skull base, mandible, hyoid and shoulders over soft tissue.

Materials and the Beer-Lambert bookkeeping are the schematic style's (``lib.phantom.scene.MU_PER_MM``); only the
shapes, the texture and the frame (``FilmSpec.to_px``) differ.
"""

from __future__ import annotations

import dataclasses
from typing import Dict

import numpy as np
from scipy.spatial import ConvexHull

from lib.phantom.anatomy import BODY_LEVELS
from lib.phantom.film.posterior import film_spine_bones
from lib.phantom.film.shapes import (
    body_outline,
    chaikin,
    dens_film_outline,
    ellipse_outline,
    mandible_outline,
    spinous_outline,
)
from lib.phantom.film.soft import film_soft_tissue_mm, patient_grid
from lib.phantom.film.spec import FilmSpec, axis_tilt_rad
from lib.phantom.film.texture import shelled_outline, solid_body_paths, trabecular_field
from lib.phantom.raster import shelled_polygon
from lib.phantom.scene import MU_PER_MM
from lib.phantom.scene_bones import Bone, head_and_shoulder_bones

CORTEX_MM = 0.9
SUBCHONDRAL_MM = 1.8  # decay length of the denser bone under the endplates
SUBCHONDRAL_GAIN = 0.6
# Real bodies read as dense bright bone against the neck, far above the soft tissue: the core at a young adult's
# cancellous density (about 0.49 /cm against the 0.45 of MU_PER_MM; an earlier 0.65 made faint grey boxes with a
# bright outline).
CORE_SCALE = 1.2
# A subaxial body is about 1.5 times as wide as it is deep (uncinate processes included); the schematic style's 1.2
# under-weights the bodies against the neck.
FILM_BODY_WIDTH_PER_DEPTH = 1.5
SPINOUS_THICKNESS_MM = 9.0
MANDIBLE_THICKNESS_MM = 16.0  # both halves together
# Clavicles and humeral heads are left to the shoulders' dense band, where a lateral film hides them; the mandible
# is drawn as one outline of its own.
REPLACED_BONES = ("clavicle", "humeral_heads", "mandible_body", "mandible_ramus")
UNTEXTURED = ("skull",)  # the skull's many overlapping layers average its trabeculae out
MU_CORT = MU_PER_MM["cortical"] - MU_PER_MM["soft"]
MU_CANC = MU_PER_MM["cancellous"] - MU_PER_MM["soft"]


def film_outlines(spec: FilmSpec) -> Dict[str, np.ndarray]:
    """Body outline per level C2..T1 in the patient frame (mm); the age-dependent anterior lip is in it."""
    lip = float(np.clip((spec.age_years - 30.0) / 40.0, 0.0, 1.0)) * 1.6 + 0.3
    return {lv: body_outline(spec.spine.bodies[lv], lv, lip) for lv in BODY_LEVELS}


def _bone_outline(bone: Bone) -> np.ndarray:
    if bone.outline_mm is not None:
        # The convex hull in order: the shell raster needs a convex outline whatever order the corners came in.
        hull = ConvexHull(bone.outline_mm)
        # Pillars keep most of their rhomboid so that they stack into a column; other bones are rounded more.
        rounds, cut = (1, 0.12) if bone.name.endswith("pillar") else (2, 0.22)
        return chaikin(bone.outline_mm[hull.vertices], rounds=rounds, cut=cut)
    centre, axes, angle = bone.ellipse_mm
    return ellipse_outline(centre, axes, angle)


def _draw_bone(acc, canc, spec: FilmSpec, bone: Bone, shift_mm: np.ndarray) -> None:
    s = spec.px_per_mm
    out = shelled_polygon(
        spec.to_px(_bone_outline(bone) + shift_mm), acc.shape, bone.thickness_mm, bone.roll_mm * s, bone.cortex_mm, s
    )
    if out is None:
        return
    box, cortical, inner = out
    acc[box] += MU_CORT * cortical
    if bone.inner == "cancellous" and bone.name not in UNTEXTURED:
        canc[box] += MU_CANC * inner
    elif bone.inner == "cancellous":
        acc[box] += MU_CANC * inner
    else:
        acc[box] += (MU_PER_MM[bone.inner] - MU_PER_MM["soft"]) * inner


def _draw_flat(acc, canc, spec: FilmSpec, outline_mm, thickness_mm: float, roll_mm: float, cortex_mm: float) -> None:
    out = shelled_outline(spec.to_px(outline_mm), acc.shape, thickness_mm, roll_mm, cortex_mm, spec.px_per_mm)
    if out is not None:
        box, cortical, inner = out
        acc[box] += MU_CORT * cortical
        canc[box] += MU_CANC * inner


def _draw_body(acc, canc, spec: FilmSpec, level: str, outline_mm: np.ndarray) -> None:
    body = spec.spine.bodies[level]
    s = spec.px_per_mm
    depth = float(np.linalg.norm(body.corners["anterior_inferior"] - body.corners["posterior_inferior"]))
    post = spec.to_px(body.posterior_mid)
    ant_dir = spec.to_px(body.posterior_mid + body.u) - post
    out = solid_body_paths(
        spec.to_px(outline_mm), acc.shape, post, ant_dir / np.linalg.norm(ant_dir), depth * s,
        FILM_BODY_WIDTH_PER_DEPTH * depth, CORTEX_MM, s,
    )  # fmt: skip
    if out is None:
        return
    box, cortical, core, dist_mm = out
    acc[box] += MU_CORT * cortical
    # Denser bone under the endplates and along the walls (subchondral sclerosis), fading into the core.
    sclerosis = 1.0 + SUBCHONDRAL_GAIN * np.exp(-(dist_mm - CORTEX_MM) / SUBCHONDRAL_MM)
    canc[box] += CORE_SCALE * MU_CANC * core * sclerosis


def _film_head_bone(bone: Bone, spec: FilmSpec) -> Bone:
    """The skull as a large shell whose lower margin is the occiput, and a shorter mandibular body."""
    c2 = spec.spine.bodies["C2"]
    if bone.name == "occiput":
        centre = c2.posterior_mid - 5.0 * c2.u + 88.0 * c2.v
        # Filled with dense bone and a thin rim: the skull base shows as a bright mass, not a ring.
        return dataclasses.replace(
            bone,
            name="skull",
            thickness_mm=30.0,
            cortex_mm=0.8,
            inner="cancellous",
            roll_mm=14.0,
            ellipse_mm=(centre, (92.0, 62.0), 0.2),
        )
    return bone


def film_line_integral(spec: FilmSpec, rng: np.random.Generator) -> np.ndarray:
    """Noise-free sum of mu * path length, float32 [rows, cols]; ``rng`` draws the texture and soft-tissue detail."""
    grid = patient_grid(spec)
    acc = (MU_PER_MM["soft"] * film_soft_tissue_mm(spec, grid, rng)).astype(np.float32)
    del grid
    canc = np.zeros_like(acc)
    for level, outline in film_outlines(spec).items():
        _draw_body(acc, canc, spec, level, outline)
    single, paired = film_spine_bones(spec)
    single = [b for b in single if b.name != "C2_dens" and not b.name.endswith("_spinous")]
    for level in BODY_LEVELS:
        outline = spinous_outline(spec.spine.bodies[level], level)
        _draw_flat(acc, canc, spec, outline, SPINOUS_THICKNESS_MM, 2.0, 1.0)
    single.append(Bone("C2_dens", 10.0, 1.0, dens_film_outline(spec.spine.bodies["C2"]), roll_mm=2.5))
    # A slightly rotated neck separates left and right posterior elements into double contours.
    c7 = spec.spine.bodies["C7"]
    offset = 0.5 * spec.acquisition["rotation_offset_mm"] * (0.8 * c7.u + 0.6 * c7.v)
    head = [_film_head_bone(b, spec) for b in head_and_shoulder_bones(spec) if b.name not in REPLACED_BONES]
    _draw_flat(acc, canc, spec, mandible_outline(spec.spine.bodies["C2"]), MANDIBLE_THICKNESS_MM, 3.0, 2.2)
    for bone in single + head:
        _draw_bone(acc, canc, spec, bone, np.zeros(2))
    for bone in paired:
        _draw_bone(acc, canc, spec, bone, offset)
        _draw_bone(acc, canc, spec, bone, -offset)
    texture = trabecular_field(acc.shape, spec.px_per_mm, axis_tilt_rad(spec), rng)
    amount = spec.acquisition["trabecular_amount"]
    return (acc + canc * np.clip(1.0 + amount * texture, 0.2, None)).astype(np.float32)
