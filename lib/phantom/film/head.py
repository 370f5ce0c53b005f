"""The head end of a lateral film: C1, the skull base and occiput, and the mandible with its teeth.

What a real film shows there (``radiograph_appearance.md``): C1's anterior arch a small bright oval in front of the
dens, its posterior arch a bar under the occiput ending in the posterior tubercle, its lateral masses a dense block
over the dens; above and behind C1 the skull base (condyles, mastoid and petrous bone) as an irregular, mottled
bright mass, and the occipital squama curving back and up from the foramen magnum as a thick bright band (the bowl
seen edge-on). The mandible is a curved bone in front of C2-C3, its two halves a few mm apart (double inferior
border and angle), with bright teeth along the alveolar crest. All in the patient frame (x anterior, y up, true mm),
built from C2 so that posture and framing carry them with the spine.
"""

from __future__ import annotations

import math
from typing import List

import numpy as np

from lib.phantom.anatomy import Body
from lib.phantom.film.shapes import bezier, chaikin, turn
from lib.phantom.scene_bones import Bone

# The schematic style's C1 (rings from ellipses) and head bones that the film draws its own way.
REPLACED_SPINE = ("C1_anterior_arch", "C1_posterior_arch", "C1_lateral_mass")
REPLACED_HEAD = ("occiput", "mastoid", "mandible_body", "mandible_ramus", "clavicle", "humeral_heads")


def _depth(c2: Body) -> float:
    return float(np.linalg.norm(c2.corners["anterior_inferior"] - c2.corners["posterior_inferior"]))


def _local(c2: Body, origin: np.ndarray, pts) -> np.ndarray:
    return np.array([origin + a * c2.u + b * c2.v for a, b in pts])


def c1_bones(c2: Body) -> tuple:
    """(single, paired) C1 bones: anterior arch, posterior arch (single); lateral masses (paired)."""
    d, top = _depth(c2), c2.posterior_mid + 0.5 * c2.height_mm * c2.v
    # A small, dense "D" in front of the dens, 2-3 mm from it (the atlanto-dental interval).
    ring = [(2.0, 3.5), (3.5, -1.0), (7.0, 0.5), (8.5, 5.5), (7.0, 11.0), (3.5, 12.5), (2.0, 8.0)]
    arch = _local(c2, top + 0.82 * d * c2.u, ring)
    anterior = Bone("C1_anterior_arch", 12.0, 1.4, chaikin(arch, rounds=2), roll_mm=2.0)
    # The posterior arch: a bar from behind the lateral masses back to the bulbous posterior tubercle.
    sl = c2.spinolaminar + (0.5 * c2.height_mm + 9.0) * c2.v
    bar = _local(c2, sl, [(8.0, 5.0), (8.0, 0.5), (-6.0, -1.5), (-12.0, -3.0), (-17.0, -1.5), (-18.0, 4.0),
                          (-13.0, 7.5), (-6.0, 5.0)])  # fmt: skip
    posterior = Bone("C1_posterior_arch", 9.0, 1.2, chaikin(bar, rounds=2), roll_mm=2.0)
    # The lateral masses: a bulky block over the dens, wider above (where the occipital condyles sit).
    block = _local(c2, top, [(-0.2 * d, 1.5), (0.85 * d, 1.5), (0.8 * d, 14.0), (-0.25 * d, 15.5)])
    # A thin rim and a long roll: a diffuse density through which the dens still shows, not a box on top of C2.
    lateral = Bone("C1_lateral_mass", 11.0, 0.4, chaikin(block, rounds=2, cut=0.2), roll_mm=6.0)
    return [anterior, posterior], [lateral]


def _blob(centre: np.ndarray, axes, angle_rad: float, rng: np.random.Generator, n: int = 40) -> np.ndarray:
    """An irregular closed outline: an ellipse whose radius wanders by low-order harmonics (about +-20%)."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    wobble = np.ones_like(t)
    for k in (2, 3, 5, 7):
        wobble += rng.uniform(0.03, 0.09) * np.sin(k * t + rng.uniform(0.0, 2.0 * math.pi))
    x, y = axes[0] * np.cos(t) * wobble, axes[1] * np.sin(t) * wobble
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.stack([centre[0] + c * x - s * y, centre[1] + s * x + c * y], axis=-1)


def skull_base_outline(c2: Body, rng: np.random.Generator) -> np.ndarray:
    """The skull base mass (condyles, mastoid, petrous bone) above and a little behind C1, rising forward."""
    d, top = _depth(c2), c2.posterior_mid + 0.5 * c2.height_mm * c2.v
    centre = top - 0.2 * d * c2.u + 40.0 * c2.v
    angle = math.atan2(c2.u[1], c2.u[0]) + math.radians(rng.uniform(12.0, 28.0))
    return _blob(centre, (rng.uniform(30.0, 38.0), rng.uniform(12.0, 16.0)), angle, rng)


def occiput_curve(c2: Body, rng: np.random.Generator) -> np.ndarray:
    """The occipital squama's outer table: from the opisthion (above C1's posterior arch) back to the inion and up."""
    opisthion = c2.spinolaminar + (0.5 * c2.height_mm + 21.0) * c2.v + 2.0 * c2.u
    back, up = -c2.u, c2.v
    p1 = opisthion + rng.uniform(30.0, 42.0) * back - rng.uniform(0.0, 5.0) * up  # towards the inion
    p2 = opisthion + rng.uniform(45.0, 58.0) * back + rng.uniform(40.0, 55.0) * up
    return bezier(opisthion, p1, p2, 32)


def occiput_outline(curve: np.ndarray) -> np.ndarray:
    """The squama as a band along ``curve`` (``occiput_curve``), thicker towards the inion, thinning at its ends."""
    tangent = np.gradient(curve, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=-1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    t = np.linspace(0.0, 1.0, len(curve))[:, None]
    half = 0.6 + 3.4 * np.sin(np.pi * np.clip(t * 1.1, 0.0, 1.0))
    return np.concatenate([curve + half * normal, (curve - half * normal)[::-1]])


def vault_outline(c2: Body, curve: np.ndarray) -> np.ndarray:
    """The cranium above the skull base, its posterior-inferior margin the occiput ``curve`` itself (one edge, not
    a disc beside a band), closed over the vertex and down in front, steeply, to the front of the skull base (the
    face in front of it is left to soft tissue)."""
    opisthion, end = curve[0], curve[-1]
    u, v = c2.u, c2.v
    far = [end + 25.0 * u + 45.0 * v, opisthion + 40.0 * u + 140.0 * v, opisthion + 110.0 * u + 110.0 * v,
           opisthion + 70.0 * u + 45.0 * v, opisthion + 35.0 * u + 14.0 * v]  # fmt: skip
    return chaikin(np.concatenate([curve, np.array(far)]), rounds=2, cut=0.25)


def mandible_film_outline(c2: Body, forward_mm: float = 22.0) -> np.ndarray:
    """One half of the mandible (patient frame, mm): ramus from a rounded angle up to the condyle and coronoid,
    the body curving forward and up to the chin; the angle ``forward_mm`` in front of C2's anterior-inferior
    corner (12-30 mm on films, with the head's posture)."""
    gonion = c2.corners["anterior_inferior"] + forward_mm * c2.u - 6.0 * c2.v
    fwd = turn(c2.u, 14.0)  # along the body, rising a little forwards
    up = turn(c2.v, 10.0)  # along the ramus, leaning back
    n_body = turn(fwd, 90.0)
    pts = [
        gonion + 4.0 * up - 2.0 * fwd,  # posterior border of the ramus, low
        gonion + 30.0 * up - 3.5 * fwd,  # posterior border, concave
        gonion + 46.0 * up - 1.0 * fwd,  # condylar neck
        gonion + 52.0 * up + 2.0 * fwd,  # condyle
        gonion + 49.0 * up + 8.0 * fwd,  # condyle, front
        gonion + 41.0 * up + 14.0 * fwd,  # sigmoid notch
        gonion + 50.0 * up + 24.0 * fwd,  # coronoid tip
        gonion + 30.0 * up + 29.0 * fwd,  # anterior border of the ramus
        gonion + 20.0 * n_body + 40.0 * fwd,  # alveolar crest, molars
        gonion + 22.0 * n_body + 72.0 * fwd,  # alveolar crest, incisors
        gonion + 14.0 * n_body + 82.0 * fwd,  # chin, front
        gonion + 2.0 * n_body + 80.0 * fwd,  # chin, bottom
        gonion - 3.0 * n_body + 55.0 * fwd,  # inferior border, slightly convex
        gonion - 1.0 * n_body + 20.0 * fwd,  # antegonial notch
        gonion + 1.0 * fwd - 1.0 * n_body,  # the angle
    ]
    return chaikin(np.array(pts), rounds=3, cut=0.25)


def teeth_outlines(c2: Body, forward_mm: float, rng: np.random.Generator) -> List[np.ndarray]:
    """Crowns of the lower and upper teeth along the crest, packed side by side with thin gaps and uneven heights
    (patient frame)."""
    gonion = c2.corners["anterior_inferior"] + forward_mm * c2.u - 6.0 * c2.v
    fwd = turn(c2.u, 14.0)
    n_body = turn(fwd, 90.0)
    widths = rng.uniform(0.8, 1.2, 7) * np.array([10.0, 10.0, 7.0, 7.0, 6.5, 6.0, 6.0])  # molars to incisors
    edges = 34.0 + np.concatenate([[0.0], np.cumsum(widths)]) * 42.0 / widths.sum()
    lean = rng.uniform(-1.5, 1.5)  # the crowns lean together (mm over a crown's height), so the rows are no grid
    out = []
    for a0, a1 in zip(edges[:-1], edges[1:]):
        a0, a1 = a0 + 0.15, a1 - 0.15  # the thin dark gap between neighbours
        crest = 18.0 + 2.0 * (0.5 * (a0 + a1) - 34.0) / 42.0 + rng.uniform(-0.8, 0.8)
        low, high = rng.uniform(7.0, 9.5, size=2)
        for lo, hi in ((crest, crest + low), (crest + low + 0.2, crest + low + 0.2 + high)):  # lower, then upper
            box = [gonion + (a + lean * (h - lo) / (hi - lo)) * fwd + h * n_body
                   for a, h in ((a0, lo), (a1, lo), (a1, hi), (a0, hi))]  # fmt: skip
            out.append(chaikin(np.array(box), rounds=2, cut=0.2))
    return out
