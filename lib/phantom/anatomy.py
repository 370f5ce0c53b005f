"""Spine geometry of one phantom patient in an anatomical frame: x anterior, y superior, millimetres (true size).

Bodies are quadrilaterals built from T1/C7 upwards, disc by disc: each upper body sits on the lower body's
superior endplate at the drawn disc heights (after any disc height loss), tilted by the disc wedge and shifted by
any listhesis. Corners are therefore the ground-truth landmarks by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict

import numpy as np

BODY_LEVELS = ("C2", "C3", "C4", "C5", "C6", "C7", "T1")
# Typical adult sizes (clinical.md): AP depth 15 (C3) to 17-18 mm (C7); height 13-15 mm with C5 the lowest.
DEPTH_MM = {"C2": 15.5, "C3": 15.0, "C4": 15.5, "C5": 16.0, "C6": 16.8, "C7": 17.5, "T1": 18.0}
HEIGHT_MM = {"C2": 16.5, "C3": 14.0, "C4": 13.8, "C5": 13.3, "C6": 13.8, "C7": 14.8, "T1": 16.0}
# Disc middle heights about 5-6 mm, C5/6 lowest in degenerative series but tallest when healthy.
DISC_MM = {"C2/3": 4.6, "C3/4": 5.2, "C4/5": 5.5, "C5/6": 5.8, "C6/7": 5.6, "C7/T1": 5.0}
SPINOUS_LENGTH_MM = {"C2": 24.0, "C3": 16.0, "C4": 17.0, "C5": 19.0, "C6": 24.0, "C7": 33.0, "T1": 30.0}
# Share of the C2-C7 disc angle carried by each segment, top to bottom.
ANGLE_SHARE = np.array([0.16, 0.2, 0.22, 0.22, 0.2])


@dataclass
class Body:
    """One vertebral body: corners (x, y) mm and the local axes (u anterior, v superior, unit vectors)."""

    corners: Dict[str, np.ndarray]
    u: np.ndarray
    v: np.ndarray
    canal_mm: float
    spinous_mm: float

    @property
    def posterior_mid(self) -> np.ndarray:
        return 0.5 * (self.corners["posterior_superior"] + self.corners["posterior_inferior"])

    @property
    def height_mm(self) -> float:
        return float(np.linalg.norm(self.corners["posterior_superior"] - self.corners["posterior_inferior"]))

    @property
    def spinolaminar(self) -> np.ndarray:
        return self.posterior_mid - self.canal_mm * self.u


@dataclass
class Spine:
    bodies: Dict[str, Body] = field(default_factory=dict)
    curvature: str = "lordotic"
    target_lordosis_deg: float = 0.0


def _unit(angle_rad: float) -> np.ndarray:
    return np.array([math.cos(angle_rad), math.sin(angle_rad)])


def _rot90(vec: np.ndarray) -> np.ndarray:
    return np.array([-vec[1], vec[0]])


def sample_disc_angles_deg(rng: np.random.Generator, curvature: str) -> np.ndarray:
    """Disc wedge angles C2/3..C6/7 (degrees, + lordotic) for a curvature class."""
    if curvature == "sigmoid":
        upper, lower = rng.normal(12.0, 3.0), -rng.normal(9.0, 3.0)
        if rng.random() < 0.3:  # reversed S: kyphotic above, lordotic below
            upper, lower = -abs(lower), abs(upper)
        shares = np.concatenate(
            [ANGLE_SHARE[:2] / ANGLE_SHARE[:2].sum() * upper, ANGLE_SHARE[2:] / ANGLE_SHARE[2:].sum() * lower]
        )
        return shares + rng.normal(0.0, 1.0, 5)
    total = {
        "lordotic": max(10.0, rng.normal(24.0, 7.0)),
        "straight": float(np.clip(rng.normal(4.0, 3.0), -2.0, 9.0)),
        "kyphotic": min(-4.0, rng.normal(-8.0, 4.0)),
    }[curvature]
    return ANGLE_SHARE * total + rng.normal(0.0, 1.2, 5)


def _body_from_inferior(
    pi: np.ndarray, u: np.ndarray, depth: float, hp: float, ha: float, canal: float, spinous: float
) -> Body:
    v = _rot90(u)
    corners = {
        "posterior_inferior": pi,
        "anterior_inferior": pi + depth * u,
        "posterior_superior": pi + hp * v,
        "anterior_superior": pi + depth * u + ha * v,
    }
    return Body(corners, u, v, canal, spinous)


def _stack_upper(
    lower: Body,
    depth: float,
    hp_body: float,
    ha_body: float,
    disc_mid: float,
    angle_deg: float,
    listhesis: float,
    canal: float,
    spinous: float,
) -> Body:
    """Place the body above ``lower`` on a disc of middle height ``disc_mid`` and wedge ``angle_deg``."""
    ps, as_ = lower.corners["posterior_superior"], lower.corners["anterior_superior"]
    e = (as_ - ps) / np.linalg.norm(as_ - ps)
    n = _rot90(e)
    lower_depth = float(np.linalg.norm(as_ - ps))
    half_diff = 0.5 * lower_depth * math.tan(math.radians(angle_deg))
    hp = max(1.0, disc_mid - half_diff)
    ha = max(1.0, disc_mid + half_diff)
    tilt = math.atan2(ha - hp, lower_depth)
    u = _unit(math.atan2(e[1], e[0]) + tilt)
    pi = ps + hp * n + listhesis * e
    return _body_from_inferior(pi, u, depth, hp_body, ha_body, canal, spinous)


def build_spine(
    rng: np.random.Generator,
    curvature: str,
    size_scale: float,
    canal_mm: Dict[str, float],
    disc_loss_mm: Dict[str, float],
    listhesis_mm: Dict[str, float],
) -> Spine:
    """Sample body sizes, disc heights and angles, then stack C7 up to C2 and T1 below.

    canal_mm: mid-body sagittal canal diameter per level C2..T1 (true mm). disc_loss_mm, listhesis_mm: per
    segment ``"C2/3"``..``"C6/7"`` (mm, >= 0; listhesis anterior). Returns a ``Spine`` in the anatomical frame.
    """
    depth = {k: v * size_scale + rng.normal(0.0, 0.4) for k, v in DEPTH_MM.items()}
    height = {k: v * size_scale + rng.normal(0.0, 0.4) for k, v in HEIGHT_MM.items()}
    wedge = {k: rng.normal(0.4, 0.3) for k in BODY_LEVELS}  # anterior body a little lower than posterior
    angles = sample_disc_angles_deg(rng, curvature)
    # T1 slope: the C7 inferior endplate dips anteriorly, more so in lordotic necks.
    theta_c7 = math.radians(-(0.5 * float(angles.sum()) + 10.0) + rng.normal(0.0, 5.0))
    spinous = {k: v * size_scale * rng.uniform(0.9, 1.1) for k, v in SPINOUS_LENGTH_MM.items()}

    def h(level):
        return height[level], height[level] - wedge[level]

    spine = Spine(curvature=curvature, target_lordosis_deg=float(angles.sum()))
    spine.bodies["C7"] = _body_from_inferior(
        np.zeros(2), _unit(theta_c7), depth["C7"], *h("C7"), canal_mm["C7"], spinous["C7"]
    )
    segments = ("C6/7", "C5/6", "C4/5", "C3/4", "C2/3")
    for i, segment in enumerate(segments):
        upper, lower = segment.split("/")[0], "C" + segment.split("/")[1]
        disc_mid = max(1.2, DISC_MM[segment] * size_scale + rng.normal(0.0, 0.3) - disc_loss_mm[segment])
        spine.bodies[upper] = _stack_upper(
            spine.bodies[lower],
            depth[upper],
            *h(upper),
            disc_mid,
            float(angles[4 - i]),
            listhesis_mm[segment],
            canal_mm[upper],
            spinous[upper],
        )
    c7 = spine.bodies["C7"]
    t1_u = _unit(theta_c7 - math.radians(rng.normal(3.0, 2.0)))
    t1_top = c7.corners["posterior_inferior"] - DISC_MM["C7/T1"] * size_scale * c7.v
    hp, ha = h("T1")
    t1_pi = t1_top - hp * _rot90(t1_u)
    spine.bodies["T1"] = _body_from_inferior(t1_pi, t1_u, depth["T1"], hp, ha, canal_mm["T1"], spinous["T1"])
    return spine
