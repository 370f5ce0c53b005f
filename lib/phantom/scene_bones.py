"""Bony structures of the phantom as convex 2D outlines (pixel coordinates) with beam-path thicknesses.

Each structure is ``Bone(outline_px or ellipse, thickness_mm, cortex_mm, inner)`` where ``inner`` names the
material inside the cortical shell (cancellous bone, or soft tissue for the skull). Paired structures (pedicles,
pillars, laminae) are drawn twice, shifted by the patient's rotation, which gives the double contours of real films.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from lib.anatomy.names import SEGMENTS
from lib.phantom.anatomy import BODY_LEVELS, Body
from lib.phantom.patient import PatientSpec


@dataclass
class Bone:
    name: str
    thickness_mm: float
    cortex_mm: float
    outline_mm: Optional[np.ndarray] = None  # convex polygon [N, 2], anatomical mm
    ellipse_mm: Optional[Tuple[np.ndarray, Tuple[float, float], float]] = None  # centre, semi-axes, angle (rad)
    inner: str = "cancellous"
    roll_mm: float = 2.0


def _local(body: Body, pts: List[Tuple[float, float]]) -> np.ndarray:
    """Points given as (u, v) mm offsets from the posterior wall mid-point in the body's frame."""
    return np.array([body.posterior_mid + a * body.u + b * body.v for a, b in pts])


def _rot(vec: np.ndarray, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([c * vec[0] - s * vec[1], s * vec[0] + c * vec[1]])


def _intersect(p: np.ndarray, d: np.ndarray, q: np.ndarray, e: np.ndarray) -> np.ndarray:
    t = np.linalg.solve(np.column_stack([d, -e]), q - p)
    return p + t[0] * d


def _joint_lines(spec: PatientSpec) -> dict:
    """Facet joint line (point, direction) per segment, sloping down posteriorly at about 40 degrees."""
    bodies, lines = spec.spine.bodies, {}
    for segment in SEGMENTS + ("C7/T1",):
        up, lo = (
            bodies[segment.split("/")[0]],
            bodies[segment.split("/")[1] if segment.endswith("T1") else "C" + segment.split("/")[1]],
        )
        point = 0.5 * ((up.posterior_mid - 0.55 * up.canal_mm * up.u) + (lo.posterior_mid - 0.55 * lo.canal_mm * lo.u))
        lines[segment] = (point, _rot(0.5 * (up.u + lo.u), 40.0))
    c2 = bodies["C2"]
    lines["C1/2"] = (c2.posterior_mid + (0.5 * c2.height_mm + 2.5) * c2.v - 0.55 * c2.canal_mm * c2.u, c2.u)
    t1 = bodies["T1"]
    lines["T1/2"] = (t1.posterior_mid - (0.5 * t1.height_mm + 3.0) * t1.v - 0.55 * t1.canal_mm * t1.u, _rot(t1.u, 40.0))
    return lines


def _pillar(body: Body, above, below, gap_mm: float = 0.7) -> np.ndarray:
    n_above, n_below = np.array([-above[1][1], above[1][0]]), np.array([-below[1][1], below[1][0]])
    top = (above[0] - gap_mm * n_above, above[1])
    bottom = (below[0] + gap_mm * n_below, below[1])
    front = (body.posterior_mid - 0.3 * body.canal_mm * body.u, body.v)
    back = (body.posterior_mid - 0.92 * body.canal_mm * body.u, body.v)
    return np.array(
        [_intersect(*top, *front), _intersect(*top, *back), _intersect(*bottom, *back), _intersect(*bottom, *front)]
    )


def _posterior_elements(level: str, body: Body, above, below) -> List[Bone]:
    c, h = body.canal_mm, body.height_mm
    sl = body.spinolaminar
    tip_dir = _rot(-body.u, 25.0 if level not in ("C7", "T1") else 18.0)
    tip = sl - 0.1 * h * body.v + body.spinous_mm * tip_dir
    normal = np.array([-tip_dir[1], tip_dir[0]])
    tip_half = 4.0 if level in ("C2", "C7", "T1") else 3.0
    spinous = np.array(
        [sl + 0.15 * h * body.v, sl - 0.35 * h * body.v, tip - tip_half * normal, tip + tip_half * normal]
    )
    lamina_h = 0.6 if level == "C2" else 0.45
    return [
        Bone(
            f"{level}_pedicle",
            5.5,
            1.0,
            _local(body, [(1.0, 0.35 * h), (1.0, -0.05 * h), (-0.3 * c, 0.0), (-0.3 * c, 0.3 * h)]),
            roll_mm=1.5,
        ),
        Bone(f"{level}_pillar", 6.0, 0.8, _pillar(body, above, below), roll_mm=2.0),
        Bone(
            f"{level}_lamina",
            3.5,
            0.8,
            _local(
                body,
                [
                    (-0.85 * c, 0.3 * h),
                    (-0.85 * c, -lamina_h * h),
                    (-c - 1.5, -(lamina_h + 0.1) * h),
                    (-c - 1.5, 0.15 * h),
                ],
            ),
            roll_mm=1.0,
        ),
        Bone(f"{level}_spinous", 7.0, 1.0, spinous, roll_mm=2.0),
    ]


def spine_bones(spec: PatientSpec) -> Tuple[List[Bone], List[Bone]]:
    """(single midline bones, paired bones drawn twice) of C1..T1, including osteophytes and OPLL."""
    bodies, lines = spec.spine.bodies, _joint_lines(spec)
    single: List[Bone] = []
    paired: List[Bone] = []
    order = ("C1/2",) + SEGMENTS + ("C7/T1", "T1/2")
    for i, level in enumerate(BODY_LEVELS):
        elements = _posterior_elements(level, bodies[level], lines[order[i]], lines[order[i + 1]])
        single.append(elements.pop())  # spinous process is midline
        paired.extend(elements)
    single.extend(pathology_bones(spec))
    c2 = bodies["C2"]
    single.append(Bone("C2_dens", 10.0, 1.0, dens_outline(c2), roll_mm=2.5))
    d = float(np.linalg.norm(c2.corners["anterior_inferior"] - c2.corners["posterior_inferior"]))
    top = c2.posterior_mid + 0.5 * c2.height_mm * c2.v
    single.append(
        Bone("C1_anterior_arch", 10.0, 1.2, ellipse_mm=(top + (0.82 * d + 6.0) * c2.u + 8.5 * c2.v, (4.0, 5.5), 0.0))
    )
    single.append(
        Bone(
            "C1_posterior_arch",
            8.0,
            1.2,
            ellipse_mm=(
                c2.spinolaminar - 7.0 * c2.u + (0.5 * c2.height_mm + 14.0) * c2.v,
                (9.0, 4.0),
                math.radians(-10.0),
            ),
        )
    )
    paired.append(Bone("C1_lateral_mass", 11.0, 1.0, ellipse_mm=(top + 0.2 * d * c2.u + 9.0 * c2.v, (10.0, 6.0), 0.0)))
    return single, paired


def dens_outline(c2: Body) -> np.ndarray:
    """Convex outline of the dens (anatomical mm) rising from the top of the C2 body."""
    d = float(np.linalg.norm(c2.corners["anterior_inferior"] - c2.corners["posterior_inferior"]))
    base = c2.corners["posterior_superior"]
    pts = [(0.22, -1.5), (0.78, -1.5), (0.74, 9.0), (0.62, 14.0), (0.4, 14.0), (0.27, 9.0)]
    return np.array([base + a * d * c2.u + b * c2.v for a, b in pts])


def pathology_bones(spec: PatientSpec) -> List[Bone]:
    """Posterior osteophytes at both endplate corners and OPLL behind the walls, sized from the segment labels."""
    bones = []
    for segment in SEGMENTS:
        up, lo = spec.spine.bodies[segment.split("/")[0]], spec.spine.bodies["C" + segment.split("/")[1]]
        feats = spec.segments[segment]["visible_features"]
        ost, opll = feats["osteophyte_mm"], feats["opll_mm"]
        if ost > 0.3:
            pi, ps = up.corners["posterior_inferior"], lo.corners["posterior_superior"]
            bones.append(
                Bone(
                    f"{segment}_osteophyte_upper",
                    14.0,
                    0.8,
                    np.array([pi + 3.5 * up.v, pi + 1.0 * up.u, pi - ost * up.u - 1.2 * up.v]),
                    roll_mm=1.0,
                )
            )
            bones.append(
                Bone(
                    f"{segment}_osteophyte_lower",
                    14.0,
                    0.8,
                    np.array([ps - 3.0 * lo.v, ps + 1.0 * lo.u, ps - 0.7 * ost * lo.u + 1.0 * lo.v]),
                    roll_mm=1.0,
                )
            )
        if opll > 0.3:
            a, b = up.posterior_mid, lo.posterior_mid
            bones.append(
                Bone(
                    f"{segment}_opll",
                    10.0,
                    1.0,
                    np.array([a + 0.3 * up.u, a - opll * up.u, b - opll * lo.u, b + 0.3 * lo.u]),
                    roll_mm=1.0,
                )
            )
    return bones


def head_and_shoulder_bones(spec: PatientSpec) -> List[Bone]:
    """Occiput, mastoid, mandible, hyoid, clavicle and humeral heads around the cervical spine."""
    b = spec.spine.bodies
    c2, c3, c7 = b["C2"], b["C3"], b["C7"]
    sl2 = c2.spinolaminar
    gonion = c2.corners["anterior_inferior"] + 30.0 * c2.u - 4.0 * c2.v
    body_dir = _rot(c2.u, 18.0)
    ramus_dir = _rot(c2.v, 12.0)
    shoulder_top_mm = (
        c7.posterior_mid[1] - (spec.acquisition["shoulder_row_px"] - spec.to_px(c7.posterior_mid)[1]) / spec.px_per_mm
    )
    clav_a = np.array([c7.corners["anterior_inferior"][0] + 55.0, shoulder_top_mm - 16.0])
    clav_b = np.array([c7.posterior_mid[0] - 5.0, shoulder_top_mm - 9.0])
    clav_n = np.array([0.0, 6.0])
    return [
        Bone(
            "occiput",
            140.0,
            6.0,
            ellipse_mm=(sl2 - 25.0 * c2.u + 42.0 * c2.v, (48.0, 22.0), math.radians(25.0)),
            inner="soft",
        ),
        Bone("mastoid", 18.0, 2.0, ellipse_mm=(c2.posterior_mid - 4.0 * c2.u + 30.0 * c2.v, (11.0, 9.0), 0.0)),
        Bone(
            "mandible_ramus",
            12.0,
            2.5,
            np.array(
                [gonion, gonion + 10.0 * c2.u, gonion + 10.0 * c2.u + 40.0 * ramus_dir, gonion + 40.0 * ramus_dir]
            ),
            roll_mm=3.0,
        ),
        Bone(
            "mandible_body",
            14.0,
            2.5,
            np.array(
                [
                    gonion,
                    gonion + 90.0 * body_dir,
                    gonion + 90.0 * body_dir + 24.0 * _rot(body_dir, 90.0),
                    gonion + 16.0 * _rot(body_dir, 90.0),
                ]
            ),
            roll_mm=3.0,
        ),
        Bone(
            "hyoid", 20.0, 1.0, ellipse_mm=(c3.corners["anterior_inferior"] + 30.0 * c3.u - 2.0 * c3.v, (8.0, 3.0), 0.2)
        ),
        Bone(
            "clavicle",
            24.0,
            2.0,
            np.array([clav_a + clav_n, clav_a - clav_n, clav_b - clav_n, clav_b + clav_n]),
            roll_mm=5.0,
        ),
        Bone(
            "humeral_heads",
            35.0,
            2.0,
            ellipse_mm=(np.array([c7.posterior_mid[0] - 35.0, shoulder_top_mm - 40.0]), (38.0, 32.0), 0.0),
        ),
    ]
