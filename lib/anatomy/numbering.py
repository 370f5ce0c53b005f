"""Level names counted from C2: recognise C2 by its shape, then number the stack below it by the bodies' pitch.

The levels model's per-pixel class is a guess at identity that a tight crop or an unusual film shifts by a level;
the count from C2 is not. C2 is the one cervical body a reader recognises on sight: the top of the column, with
the dens rising from it, so it is by far the tallest body (2.0-2.4 times the median body below it on the
phantoms' truth). Below it every disc adds one pitch; a step of about two pitches is a level the model missed,
which stays missing. When C2 is not recognised the model's names stand, and the report says so.

Bodies are ``lib.anatomy.blobs.Component`` objects ordered cranio-caudally (``levels.order_along_axis``).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from lib.anatomy.names import VERTEBRAE

# The top body is C2 when its height along the spine is within this range of the median height of the bodies
# below it. Truth: 2.0-2.4 (protocol phantom), 2.1-2.3 (film phantom, C2 whole). A C2 cut by the field's top
# edge falls below the range (and is not counted from); above it the blob is likely two bodies fused.
C2_HEIGHT_RATIO_RANGE = (1.5, 3.2)
# C2's centroid sits high because of the dens: its step to the body below is 1.1-1.6 pitches (median 1.3).
C2_STEP_PITCHES = 1.3
# Steps under this share of the pitch are two blobs of one level: the better-supported one is kept.
CONFLICT_STEP_PITCHES = 0.5
C2_NOT_IN_VIEW = "C2 not in view: level names are the model's estimate, not counted from C2"


def body_heights(bodies: Sequence, axes: np.ndarray) -> list:
    """Height in px of each body along its local (cranial unit) axis, 1st-99th percentile of its pixels."""
    return [body.extent_px(ax)[1] for body, ax in zip(bodies, axes)]


def is_c2(heights: Sequence[float]) -> bool:
    """True when the first (cranial-most) of ``heights`` is tall enough against the rest to be C2 with its dens."""
    if len(heights) < 2:
        return False
    ratio = float(heights[0]) / max(float(np.median(heights[1:])), 1e-9)
    return C2_HEIGHT_RATIO_RANGE[0] <= ratio <= C2_HEIGHT_RATIO_RANGE[1]


def _pitch(steps: np.ndarray) -> float:
    """Typical body-to-body step below C2, robust to conflicts (tiny steps) and a few skipped levels."""
    below = steps[1:]
    if len(below) == 0:
        return float(steps[0]) / C2_STEP_PITCHES
    typical = float(np.median(below))
    kept = below[below >= CONFLICT_STEP_PITCHES * typical]
    return float(np.median(kept)) if len(kept) else typical


def count_from_c2(bodies: Sequence, axis: np.ndarray, warnings: list) -> list:
    """``[(body, level id)]`` numbered from the first body as C2 (id 1) down the stack by its pitch.

    axis: the stack's caudal unit axis [x, y] (its centroids' principal axis). Steps are measured along it, so a
    blob beside a body (not below it) is a conflict with that body, not a level of its own. Conflicts keep the
    better-supported blob; bodies counted past C7 are left out. Warnings name what was left out.
    """
    cents = np.array([b.centroid for b in bodies], dtype=np.float64)
    t = cents @ np.asarray(axis, dtype=np.float64)
    steps = np.diff(t)
    pitch = _pitch(steps)
    kept, ids = [0], [1]
    for i in range(1, len(bodies)):
        step = t[i] - t[kept[-1]]
        offset = C2_STEP_PITCHES - 1.0 if ids[-1] == 1 else 0.0
        n = int(round(step / max(pitch, 1e-9) - offset))
        if n < 1 or step < CONFLICT_STEP_PITCHES * pitch:
            if kept[-1] != 0 and bodies[i].score > bodies[kept[-1]].score:
                kept[-1] = i  # the same level twice: keep the better-supported blob (never replace C2 itself)
            warnings.append("two blobs at one level: the less supported one was removed")
            continue
        kept.append(i)
        ids.append(ids[-1] + n)
    pairs = [(bodies[i], level) for i, level in zip(kept, ids) if level <= len(VERTEBRAE)]
    if len(pairs) < len(kept):
        warnings.append(f"{len(kept) - len(pairs)} body(ies) counted below C7 left out")
    return pairs


def relabel_warning(model_ids: Sequence[int], counted: Sequence[int]) -> Optional[str]:
    """The warning naming each body the count from C2 renamed, or None when the model agreed."""
    names = [f"{VERTEBRAE[a - 1]}->{VERTEBRAE[b - 1]}" for a, b in zip(model_ids, counted) if a != b]
    if not names:
        return None
    return f"levels renumbered counting from C2 (the model named them otherwise): {', '.join(names)}"
