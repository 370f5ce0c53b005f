"""Outlines of the film style's bones in the patient's frame (x anterior, y up, true mm).

Vertebral bodies are drawn from their four landmark corners, which stay the truth: concave endplates (the
superior one upturned at the back into the uncinate lip), a slightly concave anterior wall, rounded corners and a
small anterior-inferior lip that grows with age. Other bones are the schematic style's convex outlines with their
corners cut (Chaikin), so pillars, laminae and spinous processes lose the look of flat rhombi and blades.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from lib.phantom.anatomy import Body

CORNER_RADIUS_MM = 1.6
SUPERIOR_SAG_MM = 0.9  # how far the middle of a superior endplate sits below the corners' line
INFERIOR_SAG_MM = 1.2  # how far the middle of an inferior endplate sits above it
ANTERIOR_CONCAVITY_MM = 0.6
UNCINATE_MM = 0.8  # rise of the posterior end of a C3-C7 superior endplate


def bezier(p0, p1, p2, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t * t * p2


def _curve(a: np.ndarray, b: np.ndarray, bulge: np.ndarray, n: int = 24) -> np.ndarray:
    """Points from ``a`` to ``b`` through a quadratic curve whose middle is offset by ``bulge`` (mm vector)."""
    return bezier(a, 0.5 * (a + b) + 2.0 * bulge, b, n)


def body_outline(body: Body, level: str, lip_mm: float = 0.8, rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Closed outline [N, 2] (mm) of a body: counter-clockwise in the patient frame, from the anterior-superior
    corner down the anterior wall, along the inferior endplate, up the posterior wall, back along the superior one.

    The corners themselves are rounded off by at most ``CORNER_RADIUS_MM``; landmarks stay at the corners.
    """
    jitter = (lambda s: s * rng.uniform(0.7, 1.3)) if rng is not None else (lambda s: s)
    c = body.corners
    a_s, a_i = c["anterior_superior"], c["anterior_inferior"]
    p_i, p_s = c["posterior_inferior"], c["posterior_superior"]
    u, v = body.u, body.v
    r = CORNER_RADIUS_MM
    sup_sag = jitter(SUPERIOR_SAG_MM)
    inf_sag = jitter(INFERIOR_SAG_MM)
    ant = jitter(ANTERIOR_CONCAVITY_MM)
    unc = UNCINATE_MM if level not in ("C2", "T1") else 0.0
    lip = lip_mm if level != "C2" else 0.5 * lip_mm
    # Anterior wall, slightly concave (its middle set back towards the canal).
    anterior = _curve(a_s - r * v, a_i + r * v, -ant * u)
    # Anterior-inferior corner with its lip pointing down.
    lip_tip = a_i - lip * v + 0.3 * lip * u
    corner_ai = bezier(a_i + r * v, a_i + 0.4 * lip * u, lip_tip, 8)
    inferior = _curve(lip_tip - 0.4 * r * u, p_i + r * u, inf_sag * v)
    corner_pi = bezier(p_i + r * u, p_i, p_i + r * v, 8)
    posterior = _curve(p_i + r * v, p_s - r * v, 0.15 * u, 16)
    corner_ps = bezier(p_s - r * v, p_s + 0.6 * unc * v, p_s + r * u + unc * v, 8)
    superior = _curve(p_s + r * u + unc * v, a_s - r * u, -sup_sag * v)
    corner_as = bezier(a_s - r * u, a_s, a_s - r * v, 8)
    parts = (anterior, corner_ai, inferior, corner_pi, posterior, corner_ps, superior, corner_as)
    pts = np.concatenate([p[:-1] for p in parts])
    return pts


def chaikin(points: np.ndarray, rounds: int = 2, cut: float = 0.2) -> np.ndarray:
    """Corner cutting of a closed polygon; a convex polygon stays convex and inside its original outline."""
    pts = np.asarray(points, dtype=np.float64)
    for _ in range(rounds):
        nxt = np.roll(pts, -1, axis=0)
        pts = np.stack([(1 - cut) * pts + cut * nxt, cut * pts + (1 - cut) * nxt], axis=1).reshape(-1, 2)
    return pts


def ellipse_outline(centre, axes: Tuple[float, float], angle_rad: float, n: int = 48) -> np.ndarray:
    """An ellipse in the patient frame (semi-axes along its own x and y, turned by ``angle_rad``) as a polygon."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.stack([centre[0] + c * x - s * y, centre[1] + s * x + c * y], axis=-1)


def dens_film_outline(c2: Body) -> np.ndarray:
    """The dens rising from C2: a rounded peg with a waist at its base (patient frame, mm)."""
    d = float(np.linalg.norm(c2.corners["anterior_inferior"] - c2.corners["posterior_inferior"]))
    base = c2.corners["posterior_superior"]
    pts = [
        (0.2, -2.0),
        (0.8, -2.0),
        (0.74, 4.0),
        (0.77, 9.0),
        (0.7, 13.0),
        (0.55, 15.0),
        (0.4, 14.5),
        (0.28, 10.0),
        (0.25, 4.0),
    ]
    return chaikin(np.array([base + a * d * c2.u + b * c2.v for a, b in pts]), rounds=2)


def spinous_outline(body: Body, level: str) -> np.ndarray:
    """A spinous process (patient frame, mm): a broad root at the laminae, a narrower neck, a bulbous tip pointing
    back and down; C2's is broad and C7's the longest (the length is the body's own ``spinous_mm``)."""
    h = body.height_mm
    angle = math.radians(25.0 if level not in ("C7", "T1") else 18.0)
    back = -body.u
    tip_dir = math.cos(angle) * back - math.sin(angle) * body.v  # back and down
    normal = np.array([-tip_dir[1], tip_dir[0]])
    if np.dot(normal, body.v) < 0:
        normal = -normal  # normal points cranially
    root = body.spinolaminar - 0.1 * h * body.v
    length = body.spinous_mm
    big = level in ("C2", "C7", "T1")
    # Broad processes: on a real film C3-C6 are stubby plates, not sticks, and C2's is a large block.
    root_half, neck_half, tip_half = (0.5 if big else 0.4) * h, 3.8 if big else 3.0, 5.0 if big else 3.8
    # (distance along the process, half width) on its cranial side, then back along its caudal side.
    profile = [(0.0, root_half), (0.25, 0.55 * root_half + 0.45 * neck_half), (0.6, neck_half), (0.85, tip_half),
               (1.0, 0.6 * tip_half)]  # fmt: skip
    upper = [root + t * length * tip_dir + w * normal for t, w in profile]
    lower = [root + t * length * tip_dir - w * normal for t, w in reversed(profile)]
    return chaikin(np.array(upper + lower), rounds=2, cut=0.25)


def turn(vec: np.ndarray, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([c * vec[0] - s * vec[1], s * vec[0] + c * vec[1]])
