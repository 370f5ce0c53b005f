"""The film-style attenuation line integral: bodies with curved outlines and textured cores (C2 running on into
the dens), the dense column of articular pillars drawn twice (left and right) with laminae and broad spinous
processes (``film.posterior``), C1, skull base, occiput, mandible with teeth and hyoid (``film.head``), over soft
tissue and shoulders (``film.soft``).

Materials and the Beer-Lambert bookkeeping are the schematic style's (``lib.phantom.scene.MU_PER_MM``); only the
shapes, the texture and the frame (``FilmSpec.to_px``) differ.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
from scipy.spatial import ConvexHull

from lib.phantom.anatomy import BODY_LEVELS
from lib.phantom.film.head import (
    REPLACED_HEAD,
    REPLACED_SPINE,
    c1_bones,
    mandible_film_outline,
    occiput_curve,
    occiput_outline,
    skull_base_outline,
    teeth_outlines,
    vault_outline,
)
from lib.phantom.film.posterior import film_spine_bones
from lib.phantom.film.shapes import (
    body_outline,
    chaikin,
    dens_film_outline,
    ellipse_outline,
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
DENS_WIDTH_MM = 10.0
MANDIBLE_HALF_MM = 4.5  # one half of the mandible across the beam: a thin plate inside a thick cortex
SKULL_BASE_THICKNESS_MM = 22.0  # condyles, mastoid and petrous bone on top of each other
OCCIPUT_THICKNESS_MM = 18.0  # the occipital bowl crossed edge-on
VAULT_THICKNESS_MM = 12.0  # the vault's two tables, left and right
TOOTH_THICKNESS_MM = 5.0  # one crown across the beam
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
    if bone.inner == "cancellous":
        canc[box] += MU_CANC * inner
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
    # C2's tall body runs on into the dens as one bone (the level map labels the two together too).
    dens = spec.to_px(dens_film_outline(body)) if level == "C2" else None
    out = solid_body_paths(
        spec.to_px(outline_mm), acc.shape, post, ant_dir / np.linalg.norm(ant_dir), depth * s,
        FILM_BODY_WIDTH_PER_DEPTH * depth, CORTEX_MM, s, dens, DENS_WIDTH_MM,
    )  # fmt: skip
    if out is None:
        return
    box, cortical, core, dist_mm = out
    acc[box] += MU_CORT * cortical
    # Denser bone under the endplates and along the walls (subchondral sclerosis), fading into the core.
    sclerosis = 1.0 + SUBCHONDRAL_GAIN * np.exp(-(dist_mm - CORTEX_MM) / SUBCHONDRAL_MM)
    canc[box] += CORE_SCALE * MU_CANC * core * sclerosis


def _draw_head(acc, canc, spec: FilmSpec) -> None:
    """Vault, skull base, occiput, hyoid, the two halves of the mandible and the teeth (``film.head``)."""
    c2 = spec.spine.bodies["C2"]
    a = spec.acquisition
    rng = np.random.default_rng(np.random.SeedSequence([a["skull_seed"], 1]))
    for bone in (b for b in head_and_shoulder_bones(spec) if b.name not in REPLACED_HEAD):  # the hyoid
        _draw_bone(acc, canc, spec, bone, np.zeros(2))
    curve = occiput_curve(c2, rng)
    _draw_flat(acc, canc, spec, vault_outline(c2, curve), VAULT_THICKNESS_MM, 15.0, 0.8)
    _draw_flat(acc, canc, spec, skull_base_outline(c2, rng), SKULL_BASE_THICKNESS_MM, 14.0, 1.0)
    _draw_flat(acc, canc, spec, occiput_outline(curve), OCCIPUT_THICKNESS_MM, 2.5, 1.2)
    # The far half of the mandible is magnified more and the head is rarely quite square to the beam: two halves
    # a few mm apart give the double inferior border and angle of real films.
    split = (1.5 + a["rotation_offset_mm"]) * 0.5 * (0.6 * c2.u - 0.8 * c2.v)
    jaw = mandible_film_outline(c2, a["jaw_forward_mm"])
    for sign in (1.0, -1.0):
        _draw_flat(acc, canc, spec, jaw + sign * split, MANDIBLE_HALF_MM, 2.5, 2.4)
    for crown in teeth_outlines(c2, a["jaw_forward_mm"], rng):  # enamel: as dense as cortex all through
        for sign in (1.0, -1.0):  # left and right rows, apart like the two halves of the jaw
            out = shelled_outline(spec.to_px(crown + sign * split), acc.shape, TOOTH_THICKNESS_MM, 2.0, 1.0,
                                  spec.px_per_mm)  # fmt: skip
            if out is not None:
                acc[out[0]] += MU_CORT * (out[1] + out[2])


def film_line_integral(spec: FilmSpec, rng: np.random.Generator) -> np.ndarray:
    """Noise-free sum of mu * path length, float32 [rows, cols]; ``rng`` draws the texture and soft-tissue detail."""
    grid = patient_grid(spec)
    acc = (MU_PER_MM["soft"] * film_soft_tissue_mm(spec, grid, rng)).astype(np.float32)
    del grid
    canc = np.zeros_like(acc)
    for level, outline in film_outlines(spec).items():
        _draw_body(acc, canc, spec, level, outline)
    single, paired = film_spine_bones(spec)
    drop = REPLACED_SPINE + ("C2_dens",)
    single = [b for b in single if b.name not in drop and not b.name.endswith("_spinous")]
    paired = [b for b in paired if b.name not in drop]
    c1_single, c1_paired = c1_bones(spec.spine.bodies["C2"])
    single, paired = single + c1_single, paired + c1_paired
    for level in BODY_LEVELS:
        outline = spinous_outline(spec.spine.bodies[level], level)
        _draw_flat(acc, canc, spec, outline, SPINOUS_THICKNESS_MM, 2.0, 1.0)
    # A slightly rotated neck separates left and right posterior elements into double contours.
    c7 = spec.spine.bodies["C7"]
    offset = 0.5 * spec.acquisition["rotation_offset_mm"] * (0.8 * c7.u + 0.6 * c7.v)
    _draw_head(acc, canc, spec)
    for bone in single:
        _draw_bone(acc, canc, spec, bone, np.zeros(2))
    for bone in paired:
        _draw_bone(acc, canc, spec, bone, offset)
        _draw_bone(acc, canc, spec, bone, -offset)
    texture = trabecular_field(acc.shape, spec.px_per_mm, axis_tilt_rad(spec), rng)
    amount = spec.acquisition["trabecular_amount"]
    return (acc + canc * np.clip(1.0 + amount * texture, 0.2, None)).astype(np.float32)
