"""Posterior elements as a lateral film shows them.

On a real film the articular pillars (lateral masses) are the densest thing behind the bodies: a continuous column
of overlapping rhomboids that starts just behind the posterior wall and reaches nearly to the spinolaminar line,
each pillar bounded above and below by the thin oblique dark line of its facet joints. The schematic style's pillars
(``scene_bones._pillar``) start a third of the canal behind the wall and are thin plates, which reads as sparse
separate shapes; here the same facet lines bound wider, thicker pillars. Left and right are still drawn apart by the
patient's rotation (``film.scene``), which gives the double contours.
"""

from __future__ import annotations

import dataclasses
from typing import List, Tuple

import numpy as np

from lib.anatomy.names import SEGMENTS
from lib.phantom.anatomy import BODY_LEVELS
from lib.phantom.film.spec import FilmSpec
from lib.phantom.scene_bones import Bone, _intersect, _joint_lines, spine_bones

PILLAR_FRONT = 0.06  # share of the canal behind the posterior wall where the pillar column starts
PILLAR_BACK = 0.88  # and where it ends, just in front of the laminae's junction with the spinous process
FACET_GAP_MM = 0.45  # half the joint space: the dark facet line between two pillars
PILLAR_THICKNESS_MM = 10.0  # one lateral mass across the beam (each side is drawn once)
# Thicker laminae (oblique plates, crossed at a slant) and thinner, fainter pedicles hidden in the pillar's front.
_SCALE = {"lamina": (1.6, 1.0), "pedicle": (0.6, 0.5)}


def film_pillar(spec: FilmSpec, level: str, above, below) -> np.ndarray:
    """Rhomboid [4, 2] (patient mm) between the facet lines ``above`` and ``below`` (point, direction)."""
    body = spec.spine.bodies[level]
    n_above = np.array([-above[1][1], above[1][0]])
    n_below = np.array([-below[1][1], below[1][0]])
    top = (above[0] - FACET_GAP_MM * np.sign(np.dot(n_above, body.v)) * n_above, above[1])
    bottom = (below[0] + FACET_GAP_MM * np.sign(np.dot(n_below, body.v)) * n_below, below[1])
    front = (body.posterior_mid - PILLAR_FRONT * body.canal_mm * body.u, body.v)
    back = (body.posterior_mid - PILLAR_BACK * body.canal_mm * body.u, body.v)
    return np.array(
        [_intersect(*top, *front), _intersect(*top, *back), _intersect(*bottom, *back), _intersect(*bottom, *front)]
    )


def film_spine_bones(spec: FilmSpec) -> Tuple[List[Bone], List[Bone]]:
    """The schematic style's (single, paired) bones with the film's pillars, laminae and pedicles."""
    single, paired = spine_bones(spec)
    lines = _joint_lines(spec)
    order = ("C1/2",) + SEGMENTS + ("C7/T1", "T1/2")  # the joints above and below each level, as spine_bones
    out = []
    for bone in paired:
        level, _, kind = bone.name.partition("_")
        if kind == "pillar":
            i = BODY_LEVELS.index(level)
            outline = film_pillar(spec, level, lines[order[i]], lines[order[i + 1]])
            bone = dataclasses.replace(bone, outline_mm=outline, thickness_mm=PILLAR_THICKNESS_MM, cortex_mm=0.9,
                                       roll_mm=2.5)  # fmt: skip
        elif kind in _SCALE:
            thick, cortex = _SCALE[kind]
            bone = dataclasses.replace(bone, thickness_mm=bone.thickness_mm * thick, cortex_mm=bone.cortex_mm * cortex)
        out.append(bone)
    return single, out
