"""One film-style patient: the schematic patient's anatomy and labels, re-posed and re-framed for a real film.

On top of ``sample_patient`` (same anatomy, pathology and labels for the same config and index) each film draws,
from its own random stream: flexion or extension spread over C2-C7, facing left or right, an in-plane rotation
(up to 20 degrees), the magnification, the detector spacing (0.10-0.20 mm), the field of view (from skull base to
T2 down to a tight C2-C6 crop) and where the shoulders sit. ``FilmSpec.to_px`` carries all of it, so everything
drawn and every truth (mask, landmarks, measurements) goes through one mapping.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields

import numpy as np

from lib.anatomy.names import SEGMENTS
from lib.phantom.anatomy import BODY_LEVELS, Body
from lib.phantom.config import PhantomConfig
from lib.phantom.patient import VISIBLE_FRACTION_TO_ANNOTATE, PatientSpec, body_visible_fraction, sample_patient

MAX_ROTATION_DEG = 20.0
SPACING_RANGE_MM = (0.10, 0.20)
MAGNIFICATION_RANGE = (1.08, 1.25)
SHOULDER_MAX_RISE_MM = 20.0  # how far the shoulders' edge may climb behind the spine
# Share of a flexion/extension angle carried by each segment C2/3 .. C6/7 (mid-cervical segments move most).
POSTURE_SHARE = np.array([0.16, 0.2, 0.24, 0.24, 0.16])


@dataclass
class FilmSpec(PatientSpec):
    """A ``PatientSpec`` whose pixel mapping also mirrors (``facing`` -1: face to the image's right) and rotates."""

    facing: float = 1.0  # +1 the face towards the image's left (as the schematic style), -1 towards its right
    rotation_rad: float = 0.0  # in-plane rotation of the patient, counter-clockwise on the screen
    posture_deg: float = 0.0  # + extension, - flexion, C2 relative to C7

    def to_px(self, points_mm: np.ndarray) -> np.ndarray:
        pts = np.asarray(points_mm, dtype=np.float64)
        s = self.px_per_mm
        dx, dy = -self.facing * pts[..., 0] * s, -pts[..., 1] * s
        c, n = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        return np.stack([self.origin_px[0] + c * dx + n * dy, self.origin_px[1] - n * dx + c * dy], axis=-1)

    def to_mm(self, points_px: np.ndarray) -> np.ndarray:
        """The inverse of ``to_px``: pixel (col, row) -> anatomical (x anterior, y up) mm."""
        pts = np.asarray(points_px, dtype=np.float64)
        ex, ey = pts[..., 0] - self.origin_px[0], pts[..., 1] - self.origin_px[1]
        c, n = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        dx, dy = c * ex - n * ey, n * ex + c * ey
        s = self.px_per_mm
        return np.stack([-dx / (self.facing * s), -dy / s], axis=-1)

    def shoulder_weight(self, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """0 above the shoulders' top edge, rising to 1 below it.

        The edge is a curve on the image (shoulders stay roughly level however the neck sits in the frame) through
        the point ``shoulder_drop_mm`` below C7's mid-body: it falls by ``shoulder_slope_rad`` towards the face, and
        in front of ``shoulder_dome_mm`` it curves down ever faster (radius ``shoulder_radius_mm``), so the shoulder
        is a rounded mass rising obliquely from the bottom, as on real films, not a flat band. Behind the spine the
        edge climbs gently (half the slope) up to ``SHOULDER_MAX_RISE_MM``. The mass is rounded, so the path
        length through it rises steeply at the edge (a quarter ellipse over ``shoulder_ramp_mm``), which makes the
        edge crisp and the inside bright.
        """
        a = self.acquisition
        cols, rows = np.broadcast_arrays(np.asarray(cols, np.float64), np.asarray(rows, np.float64))
        c7 = self.to_px(self.spine.bodies["C7"].posterior_mid)
        s = self.px_per_mm
        forward = -self.facing * (cols - c7[0]) / s  # mm towards the face, along the image's rows
        slope = math.tan(a["shoulder_slope_rad"])
        fall = np.where(forward > 0.0, slope * forward, np.maximum(0.5 * slope * forward, -SHOULDER_MAX_RISE_MM))
        ahead = np.maximum(forward - a["shoulder_dome_mm"], 0.0)
        fall = fall + ahead * ahead / (2.0 * a["shoulder_radius_mm"])
        top = c7[1] + (a["shoulder_drop_mm"] + fall) * s
        t = np.clip((rows - top) / (a["shoulder_ramp_mm"] * s), 0.0, 1.0)
        return np.sqrt(t * (2.0 - t))


def film_rng(seed: int, index: int) -> np.random.Generator:
    """The film's own stream (posture, framing, acquisition), independent of anatomy and noise."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, 7]))


def _rotate_about(body: Body, pivot: np.ndarray, angle_rad: float) -> None:
    c, n = math.cos(angle_rad), math.sin(angle_rad)
    rot = np.array([[c, -n], [n, c]])
    body.corners = {k: pivot + rot @ (p - pivot) for k, p in body.corners.items()}
    body.u, body.v = rot @ body.u, rot @ body.v


def apply_posture(spec: PatientSpec, posture_deg: float) -> None:
    """Flex (-) or extend (+) the neck: each segment C6/7 .. C2/3 turns the bodies above it about the posterior
    corner of its lower body (the posterior disc height stays, the anterior one opens or closes)."""
    bodies = spec.spine.bodies
    for k, segment in reversed(list(enumerate(SEGMENTS))):
        lower = bodies["C" + segment.split("/")[1]]
        pivot = lower.corners["posterior_superior"].copy()
        above = BODY_LEVELS[: BODY_LEVELS.index("C" + segment.split("/")[1])]
        for level in above:
            _rotate_about(bodies[level], pivot, math.radians(posture_deg * POSTURE_SHARE[k]))


def axis_tilt_rad(spec: FilmSpec) -> float:
    """Angle of the C7 -> C2 axis from the image's vertical (up), positive towards the image's right."""
    b = spec.spine.bodies
    d = spec.to_px(b["C2"].posterior_mid) - spec.to_px(b["C7"].posterior_mid)
    return math.atan2(d[0], -d[1])


def upright_rotation(spec: FilmSpec) -> float:
    """The ``rotation_rad`` that puts the C7 -> C2 axis upright on the image (the spine's own tilt cancelled)."""
    saved, spec.rotation_rad = spec.rotation_rad, 0.0
    tilt = axis_tilt_rad(spec)
    spec.rotation_rad = 0.1
    per_rad = (axis_tilt_rad(spec) - tilt) / 0.1  # +1 or -1: which way to_px turns the patient
    spec.rotation_rad = saved
    return -tilt / per_rad


def _frame(rng: np.random.Generator, spec: FilmSpec) -> None:
    """Pick the field of view on the image and set ``shape_px`` and ``origin_px`` to cover it.

    Rows run from the top of the field (above the skull base for a full field, C2 for a tight crop) to below its
    lowest level; columns are a share of that height wide, with the spine a little towards the face's side.
    """
    b = spec.spine.bodies
    c2 = b["C2"]
    skull_base = c2.corners["posterior_superior"] + 45.0 * c2.v
    kind = str(rng.choice(("full", "full", "standard", "tight")))
    top = {"full": skull_base + rng.uniform(0.0, 30.0) * c2.v, "standard": skull_base, "tight": c2.posterior_mid}[kind]
    low = {"full": "T1", "standard": str(rng.choice(("C7", "T1"))), "tight": str(rng.choice(("C6", "C7")))}[kind]
    bottom = b[low].corners["posterior_inferior"] - rng.uniform(5.0, 25.0) * b[low].v
    spec.origin_px = np.zeros(2)
    top_px, bottom_px = spec.to_px(top), spec.to_px(bottom)
    height = bottom_px[1] - top_px[1]
    width = height * (rng.uniform(0.75, 0.95) if kind != "tight" else rng.uniform(0.9, 1.3))
    centre = np.mean([spec.to_px(bb.posterior_mid) for bb in b.values()], axis=0)
    # The face side of the image gets the larger share: the airway, the jaw and the front of the neck lie there.
    face_share = rng.uniform(0.5, 0.62)
    left = centre[0] - (face_share if spec.facing > 0 else 1.0 - face_share) * width
    spec.shape_px = (int(math.ceil(height)), int(math.ceil(width)))
    spec.origin_px = -np.array([left, top_px[1]])
    spec.acquisition["field"] = kind
    # The schematic style's head and shoulder bones read the shoulder edge as a row at C7.
    c7 = spec.spine.bodies["C7"].posterior_mid
    drop_px = spec.acquisition["shoulder_drop_mm"] * spec.px_per_mm
    spec.acquisition["shoulder_row_px"] = float(spec.to_px(c7)[1] + drop_px)


def _acquisition(rng: np.random.Generator, spec: FilmSpec) -> dict:
    bits = int(rng.choice((8, 10, 12, 12, 14, 16)))
    return {
        # From above C6's middle to below C7: the shoulders hide C7 on many films and C6 on some (clinical.md).
        "shoulder_drop_mm": rng.uniform(-24.0, 24.0),
        "shoulder_slope_rad": math.radians(rng.uniform(8.0, 30.0)),
        "shoulder_ramp_mm": rng.uniform(12.0, 30.0),
        "shoulder_tissue_mm": rng.uniform(160.0, 240.0),
        "neck_width_mm": rng.uniform(95.0, 140.0),
        "neck_front_mm": rng.uniform(36.0, 52.0),
        "neck_back_mm": rng.uniform(42.0, 65.0),
        "airway_ap_mm": rng.uniform(9.0, 18.0),
        "rotation_offset_mm": rng.uniform(0.0, 3.5),
        "photons_per_pixel": rng.uniform(6000.0, 20000.0),
        "body_grey": rng.uniform(0.55, 0.75),
        "scatter_to_primary": rng.uniform(0.2, 0.7),
        "heel_sign": float(rng.choice((-1.0, 1.0))),
        "heel_effect": rng.uniform(0.05, 0.2),
        "blur_mm": rng.uniform(0.1, 0.25),
        "unsharp_amount": rng.uniform(0.8, 2.0),
        "unsharp_kernel_mm": rng.uniform(6.0, 16.0),
        "range_compression": rng.uniform(0.3, 0.65),
        "lut": str(rng.choice(("sigmoid", "linear"))),
        "lut_centre": rng.uniform(0.4, 0.6),
        "lut_width": rng.uniform(0.6, 1.3),
        "gamma": rng.uniform(0.7, 1.4),
        "correlated_noise": rng.uniform(0.005, 0.025),
        "grid": float(rng.random() < 0.35),
        "grid_period_px": rng.uniform(3.0, 9.0),
        "grid_amplitude": rng.uniform(0.004, 0.015),
        "collimation_mm": [rng.uniform(0.0, 12.0) if rng.random() < 0.5 else 0.0 for _ in range(4)],
        "marker": float(rng.random() < 0.8),
        "marker_seed": int(rng.integers(0, 2**31 - 1)),
        "monochrome1": float(rng.random() < 0.4),
        "bits_stored": bits,
        # Mottled cancellous bone: strong enough to read as texture through the processing, as on real films.
        "trabecular_amount": rng.uniform(0.35, 0.55),
    }


def _shape_extras(acquisition: dict) -> None:
    """Where the shoulders' edge starts to curve down in front and how fast, where the mandible sits, and the seed of
    the skull base's outline; from a stream of their own (seeded by the marker seed) so that every other draw of the
    film stays as it was before these shapes were added."""
    rng = np.random.default_rng(np.random.SeedSequence([acquisition["marker_seed"], 11]))
    acquisition["shoulder_dome_mm"] = rng.uniform(0.0, 25.0)
    acquisition["shoulder_radius_mm"] = rng.uniform(40.0, 110.0)
    acquisition["jaw_forward_mm"] = rng.uniform(12.0, 30.0)  # the mandible's angle in front of C2
    acquisition["skull_seed"] = int(rng.integers(0, 2**31 - 1))


def sample_film_patient(config: PhantomConfig, index: int) -> FilmSpec:
    """Patient ``index`` of the cohort as a film; deterministic in (config, index), no rendering."""
    base = sample_patient(config, index)
    spec = FilmSpec(**{f.name: copy.deepcopy(getattr(base, f.name)) for f in fields(PatientSpec)})
    rng = film_rng(config.seed, index)
    spec.posture_deg = float(np.clip(rng.normal(0.0, 9.0), -25.0, 20.0))
    apply_posture(spec, spec.posture_deg)
    spec.facing = float(rng.choice((1.0, -1.0)))
    spec.rotation_rad = upright_rotation(spec) + math.radians(
        float(np.clip(rng.normal(0.0, 8.0), -MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    )
    spec.magnification = float(rng.uniform(*MAGNIFICATION_RANGE))
    spec.spacing_mm = float(round(rng.uniform(*SPACING_RANGE_MM), 4))
    spec.image_id = f"film_{config.seed}_{index:04d}"
    spec.acquisition = _acquisition(rng, spec)
    _shape_extras(spec.acquisition)
    _frame(rng, spec)
    visible = {lv: body_visible_fraction(spec, lv) >= VISIBLE_FRACTION_TO_ANNOTATE for lv in BODY_LEVELS[:-1]}
    for segment in SEGMENTS:
        upper, lower = segment.split("/")[0], "C" + segment.split("/")[1]
        spec.segments[segment]["evaluable"] = bool(visible[upper] and visible[lower])
    spec.annotated_levels = tuple(lv for lv, ok in visible.items() if ok)
    return spec
