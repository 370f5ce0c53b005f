"""Sampling one phantom patient without rendering: anatomy, pathology, labels, acquisition and placement.

This is the fast label-only path: everything random about a patient except the pixel noise is drawn here from
the patient's own seed, so labels do not depend on whether (or in which process) the image is rendered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from lib.anatomy.names import SEGMENTS
from lib.phantom.anatomy import BODY_LEVELS, DISC_MM, Spine, build_spine
from lib.phantom.centres import CENTRES, CURVATURES, CentreProfile
from lib.phantom.config import PhantomConfig
from lib.phantom.pathology import sample_segments

VISIBLE_FRACTION_TO_ANNOTATE = 0.3  # a body less visible than this is not annotated and its segments not evaluable
SHOULDER_OPAQUE_WEIGHT = 0.6


@dataclass
class PatientSpec:
    """A sampled patient. Lengths in true mm unless the name says px; ``shape_px`` is (rows, cols)."""

    index: int
    patient_id: str
    image_id: str
    split: str
    centre: CentreProfile
    age_years: float
    curvature: str
    spine: Spine
    segments: Dict[str, dict]
    magnification: float
    spacing_mm: float
    shape_px: Tuple[int, int]
    origin_px: np.ndarray  # (col, row) of the anatomical origin
    acquisition: Dict[str, float] = field(default_factory=dict)
    annotated_levels: Tuple[str, ...] = ()

    @property
    def px_per_mm(self) -> float:
        """Detector pixels per true (patient) millimetre."""
        return self.magnification / self.spacing_mm

    def to_px(self, points_mm: np.ndarray) -> np.ndarray:
        """Anatomical (x anterior, y up) mm -> pixel (col, row); the patient faces the image's left."""
        pts = np.asarray(points_mm, dtype=np.float64)
        return np.stack(
            [self.origin_px[0] - pts[..., 0] * self.px_per_mm, self.origin_px[1] - pts[..., 1] * self.px_per_mm],
            axis=-1,
        )

    def shoulder_weight(self, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """0 above the shoulders' top edge, rising smoothly to 1 below it (same shape as the broadcast inputs)."""
        a = self.acquisition
        top = a["shoulder_row_px"] + math.tan(a["shoulder_slope_rad"]) * (cols - a["shoulder_col_px"])
        s = np.clip((rows - top) / a["shoulder_ramp_px"], 0.0, 1.0)
        return s * s * (3.0 - 2.0 * s)


def patient_rngs(seed: int, index: int) -> Tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the anatomy/labels and for the image noise of patient ``index``."""
    anatomy, noise = np.random.SeedSequence([seed, index]).spawn(2)
    return np.random.default_rng(anatomy), np.random.default_rng(noise)


def _pick(rng: np.random.Generator, mix: Dict[str, float]) -> str:
    names = [c for c in CURVATURES if mix.get(c, 0) > 0]
    p = np.array([mix[c] for c in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _canal_by_level(rng: np.random.Generator, canal_mm: float) -> Dict[str, float]:
    # The canal is roomier at C2 and a little tighter low in the neck.
    offset = {"C2": 2.0, "C3": 0.2, "C4": 0.0, "C5": 0.0, "C6": 0.0, "C7": -0.3, "T1": -0.6}
    return {lv: canal_mm + offset[lv] + rng.normal(0.0, 0.35) for lv in BODY_LEVELS}


def _place(rng: np.random.Generator, spec: PatientSpec) -> None:
    """Choose where the spine lands in the field of view (sets origin_px)."""
    rows, cols = spec.shape_px
    c2 = spec.spine.bodies["C2"]
    dens_tip = c2.corners["posterior_superior"] + 14.0 * c2.v
    centre_x = np.mean(
        [
            b.posterior_mid[0] + 0.5 * np.linalg.norm(b.corners["anterior_inferior"] - b.corners["posterior_inferior"])
            for b in spec.spine.bodies.values()
        ]
    )
    s = spec.px_per_mm
    target_row = rows * rng.uniform(0.07, 0.13)
    target_col = cols * rng.uniform(0.38, 0.46)
    spec.origin_px = np.array([target_col + centre_x * s, target_row + dens_tip[1] * s])


def _acquisition(rng: np.random.Generator, spec: PatientSpec) -> Dict[str, float]:
    c, s = spec.centre, spec.px_per_mm
    c7 = spec.to_px(spec.spine.bodies["C7"].posterior_mid)
    margin = [rng.uniform(*c.collimation_margin_mm) / spec.spacing_mm for _ in range(4)]
    return {
        "photons_per_pixel": rng.uniform(*c.photons_per_pixel),
        "scatter_to_primary": rng.uniform(*c.scatter_to_primary),
        "heel_sign": float(rng.choice((-1.0, 1.0))),
        "monochrome1": float(rng.random() < c.monochrome1_fraction),
        "collimation_top_px": margin[0],
        "collimation_bottom_px": margin[1],
        "collimation_left_px": margin[2],
        "collimation_right_px": margin[3],
        "shoulder_row_px": c7[1] + rng.uniform(*c.shoulder_offset_mm) * s,
        "shoulder_col_px": c7[0],
        "shoulder_slope_rad": math.radians(rng.uniform(-14.0, 4.0)),
        "shoulder_ramp_px": rng.uniform(8.0, 16.0) * s,
        "shoulder_tissue_mm": rng.uniform(130.0, 180.0),
        "neck_width_mm": rng.uniform(100.0, 135.0),
        "neck_front_mm": rng.uniform(38.0, 50.0),
        "neck_back_mm": rng.uniform(40.0, 60.0),
        "airway_ap_mm": rng.uniform(11.0, 17.0),
        "rotation_offset_mm": rng.uniform(0.0, 2.5),
    }


def body_visible_fraction(spec: PatientSpec, level: str) -> float:
    """Share of a body's area inside the image and not under the opaque part of the shoulders."""
    corners = spec.spine.bodies[level].corners
    a, b = corners["posterior_inferior"], corners["anterior_inferior"]
    c, d = corners["posterior_superior"], corners["anterior_superior"]
    t = np.linspace(0.1, 0.9, 5)
    tu, tv = np.meshgrid(t, t)
    pts = (
        ((1 - tu) * (1 - tv))[..., None] * a
        + (tu * (1 - tv))[..., None] * b
        + ((1 - tu) * tv)[..., None] * c
        + (tu * tv)[..., None] * d
    )
    px = spec.to_px(pts.reshape(-1, 2))
    rows, cols = spec.shape_px
    inside = (px[:, 0] >= 0) & (px[:, 0] < cols) & (px[:, 1] >= 0) & (px[:, 1] < rows)
    clear = spec.shoulder_weight(px[:, 0], px[:, 1]) < SHOULDER_OPAQUE_WEIGHT
    return float(np.mean(inside & clear))


def sample_patient(config: PhantomConfig, index: int) -> PatientSpec:
    """Draw everything about patient ``index`` except pixel noise; cheap (no rendering)."""
    group = config.group_of(index)
    centre = CENTRES[group.centre]
    rng, _ = patient_rngs(config.seed, index)
    age_z = rng.standard_normal()
    canal_z = rng.standard_normal()
    # Degeneration tracks age; a developmentally narrow canal makes compression likelier at every level.
    patient_z = (0.7 * age_z - 0.45 * canal_z + 0.55 * rng.standard_normal()) / math.sqrt(0.49 + 0.2025 + 0.3025)
    size_scale = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
    canal = _canal_by_level(rng, 14.0 + 1.2 * canal_z)  # about 16 mm on film at C3-C6 (Pavlov)
    canal_disc = {s: 0.5 * (canal[s.split("/")[0]] + canal["C" + s.split("/")[1]]) - 0.7 for s in SEGMENTS}
    disc_height = {s: DISC_MM[s] * size_scale for s in SEGMENTS}
    opll_prone = bool(rng.random() < centre.opll_rate)
    segments = sample_segments(rng, config, patient_z, canal_disc, disc_height, opll_prone, rng.normal(1.0, 0.03))
    curvature = _pick(rng, centre.curvature_mix)
    spine = build_spine(
        rng,
        curvature,
        size_scale,
        canal,
        {s: segments[s]["visible_features"]["disc_height_loss_mm"] for s in SEGMENTS},
        {s: segments[s]["visible_features"]["listhesis_mm"] for s in SEGMENTS},
    )
    fov_h, fov_w = centre.field_of_view_mm
    spec = PatientSpec(
        index=index,
        patient_id=f"PH{config.seed}-{index:04d}",
        image_id=f"phantom_{config.seed}_{index:04d}",
        split=group.split,
        centre=centre,
        age_years=float(centre.age_years[0] + centre.age_years[1] * age_z),
        curvature=curvature,
        spine=spine,
        segments=segments,
        magnification=float(rng.uniform(*centre.magnification)),
        spacing_mm=centre.pixel_spacing_mm,
        shape_px=(int(round(fov_h / centre.pixel_spacing_mm)), int(round(fov_w / centre.pixel_spacing_mm))),
        origin_px=np.zeros(2),
    )
    _place(rng, spec)
    spec.acquisition = _acquisition(rng, spec)
    visible = {lv: body_visible_fraction(spec, lv) >= VISIBLE_FRACTION_TO_ANNOTATE for lv in BODY_LEVELS[:-1]}
    for segment in SEGMENTS:
        upper, lower = segment.split("/")[0], "C" + segment.split("/")[1]
        segments[segment]["evaluable"] = bool(visible[upper] and visible[lower])
    spec.annotated_levels = tuple(lv for lv, ok in visible.items() if ok)
    return spec
