"""Anatomical post-processing of a predicted level label map: one body per level, in cranio-caudal order.

Input: a uint8 ``[rows, cols]`` map with the ids of ``lib.io.labels.LEVEL_LABELS`` (C2=1 .. C7=6, spinal_canal=7),
optionally float32 ``[8, rows, cols]`` class probabilities. Output: a ``LevelReport`` with the cleaned map, the
levels found and missing, per-level area, centroid and spine axis, warnings, and whether this looks like a
lateral cervical spine at all. Missing levels are reported, never invented. Coordinates are pixels ``[x, y]``
(x = column, y = row, y down); ``spacing_mm`` is ``(row_mm, col_mm)`` or None when unknown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from lib.anatomy.blobs import C2_ID, components, join_dens_tips, merge_fragments
from lib.anatomy.names import CANAL_ID, LEVEL_LABELS, SEGMENTS, VERTEBRAE, segment_bodies
from lib.anatomy.numbering import (
    C2_NOT_IN_VIEW,
    C2_STEP_PITCHES,
    body_heights,
    count_from_c2,
    is_c2,
    relabel_warning,
)
from lib.core.errors import BadInputError

logger = logging.getLogger(__name__)

MIN_BODY_AREA_MM2 = 20.0  # a body is 120-300 mm^2 on film (clinical.md); a fifth of the smallest is a speck
MIN_BODY_AREA_FRACTION = 5e-4  # of the image when spacing is unknown (a body is about 1 % of a lateral C-spine film)
# A C2 piece down to this share of the speck size above C2's body is its dens tip (``blobs.join_dens_tips``).
DENS_TIP_AREA_OF_SPECK = 0.25
EXTRA_BODY_MIN_RATIO = 0.4  # a blob smaller than this share of the median body is debris
MIN_LEVELS = 3  # fewer bodies than this are not called a cervical spine (three give an axis and two pitches)
# ...unless the top one is C2, recognised by its shape and named C2 by the model too: C2 and C3 alone (a film cut
# off above C4) are a spine whose lower segments are out of view, not a film to refuse.
MIN_LEVELS_FROM_C2 = 2
NOT_IN_VIEW, NOT_FOUND = "not in view", "not found"
# A stack counted from a recognised C2 that fails the checks below only because of its lowest one or two bodies
# keeps the rest. The shoulders cover the lowest bodies, and there the network's outlines are least reliable: a
# retrained levels model painted half of C6 just under C5 and C7 under the shoulders on a film-phantom test film
# (film_0_0571) whose C2-C5 it outlined well, and the uneven spacing refused the whole film. At least C2-C5 must
# remain, and they must pass every check on their own; the bodies left out are reported missing, never invented.
MAX_CAUDAL_TRIM = 2
MIN_LEVELS_AFTER_TRIM = 4
# A top body whose pixels come this close to the film's border is not recognised as C2 by its height. On tight
# crops whose field starts below C2 the network can paint C3 up to the film's edge, over what lies past the field;
# a retrained levels model made C3 tall enough that way to pass for C2 on 2 film-phantom test films (film_0_0622,
# film_0_0630), and counting from it named every body one level too high, with confident calls on the wrong segments.
FILM_EDGE_PX = 2
# clinical.md: a body is 12-20 mm deep and 10-16 mm tall (true size); film magnification 1.1-1.2 and small or
# large necks widen this. C2 (with the dens) is left out of the height check.
BODY_DEPTH_MM_RANGE = (8.0, 28.0)
BODY_HEIGHT_MM_RANGE = (6.0, 24.0)
MAX_DEPTH_TO_HEIGHT = 1.8  # an AP view shows bodies about twice as wide as tall
MAX_AXIS_TILT_DEG = 45.0  # a lateral film shows the spine nearer vertical than horizontal
# The line through the body centres bends at most 22 degrees from one step to the next in the phantom's truth
# (flexion, extension, kyphosis, the dens pulling C2's centre back); a body outline spilling into its articular
# pillar moves its centre back by about half a body depth and bends the line twice by up to ~20 degrees each. A
# sharper turn is a zig-zag of blobs (a CT slice read as film gave 66-113 degrees), not a column.
MAX_STEP_TURN_DEG = 60.0
PITCH_TO_HEIGHT_RANGE = (0.8, 2.6)  # body + disc over body height is about 1.4
# Centroid step over the median step, per pair: under 0.6 an overlap, over 1.75 a skip (2; C2's dens gives ~1.5).
STEP_TO_PITCH_RANGE = (0.6, 1.75)
# Canal pixels kept 0.1-2.6 median body depths behind the body centres (wall at 0.5; phantom truth 0.46-1.72).
CANAL_BAND_DEPTHS = (0.1, 2.6)


@dataclass
class LevelReport:
    """Cleaned level map and what was found. Per-level dicts are keyed by names ``"C2"`` .. ``"C7"``.

    label_map: uint8 [rows, cols]. centroid_px / axis / anterior: [x, y] (axis is the cranial unit vector of the
    local spine axis, anterior the unit vector towards the front of the body). depth_px / height_px: body extent
    across and along the axis (1st-99th percentile of its pixels).
    """

    label_map: np.ndarray
    found: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    area_px: dict = field(default_factory=dict)
    area_mm2: dict = field(default_factory=dict)
    centroid_px: dict = field(default_factory=dict)
    axis: dict = field(default_factory=dict)
    anterior: dict = field(default_factory=dict)
    depth_px: dict = field(default_factory=dict)
    height_px: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    is_cervical_spine: bool = False
    reason: str = ""
    # True when C2 was recognised (top of the stack, tall with its dens) and the names were counted from it;
    # False: the names are the levels model's own estimate.
    c2_in_view: bool = False
    # Why each missing level is missing: "not in view" (its place lies beyond the film's edge) or "not found".
    missing_reason: dict = field(default_factory=dict)


def principal_axis(points: np.ndarray) -> np.ndarray:
    """Unit direction [x, y] of largest spread of ``points`` [N, 2], oriented caudally (y increasing)."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 2:
        return np.array([0.0, 1.0])
    _, _, vt = np.linalg.svd(pts - pts.mean(axis=0), full_matrices=False)
    axis = vt[0]
    return axis if axis[1] >= 0 else -axis


def order_along_axis(bodies: list) -> list:
    """Bodies sorted cranial to caudal by projection on the principal axis of their centroids.

    The cervical curve turns far less than 90 degrees, so the projection on the chord keeps the order of the curve.
    """
    if len(bodies) < 2:
        return list(bodies)
    axis = principal_axis(np.array([b.centroid for b in bodies]))
    return sorted(bodies, key=lambda b: float(b.centroid @ axis))


def contiguous(
    centroids: Sequence[np.ndarray], low: float = STEP_TO_PITCH_RANGE[0], high: float = STEP_TO_PITCH_RANGE[1]
) -> bool:
    """True when consecutive centroid distances are all within [low, high] x their median (no gap, no overlap).

    ``high`` allows for C2, whose centroid sits high because of the dens (about 1.5 pitches above C3's);
    a skipped level gives 2 pitches.
    """
    if len(centroids) < 2:
        return True
    steps = np.hypot(*np.diff(np.asarray(centroids, dtype=np.float64), axis=0).T)
    pitch = float(np.median(steps))
    return bool(pitch > 0 and steps.min() >= low * pitch and steps.max() <= high * pitch)


def _check_inputs(label_map, probabilities, spacing_mm) -> np.ndarray:
    label = np.asarray(label_map)
    if label.ndim != 2:
        raise BadInputError(f"level map must be 2D [rows, cols]; got shape {label.shape}")
    if label.size and (label.min() < 0 or label.max() > CANAL_ID):
        raise BadInputError(f"level map has ids {label.min()}..{label.max()}; allowed 0-{CANAL_ID}")
    if probabilities is not None and np.shape(probabilities) != (CANAL_ID + 1,) + label.shape:
        raise BadInputError(
            f"probabilities must be [{CANAL_ID + 1}, {label.shape[0]}, {label.shape[1]}]; got {np.shape(probabilities)}"
        )
    if spacing_mm is not None and (len(spacing_mm) != 2 or min(spacing_mm) <= 0):
        raise BadInputError(f"spacing_mm must be two positive numbers (row_mm, col_mm); got {spacing_mm}")
    return label.astype(np.uint8, copy=False)


def _candidate_bodies(comps: dict, min_area_px: float) -> list:
    """Every blob of every vertebra id above speck size: pieces of a split body must reach ``merge_fragments``."""
    return [b for lst in comps.values() for b in lst if b.area_px >= min_area_px]


def _drop_small(bodies: list) -> list:
    """After joining fragments, blobs far smaller than the typical body are debris, not bodies."""
    if not bodies:
        return bodies
    median_area = float(np.median([b.area_px for b in bodies]))
    return [b for b in bodies if b.area_px >= EXTRA_BODY_MIN_RATIO * median_area]


def _best_subsequence(labels: Sequence[int], scores: Sequence[float]) -> list:
    """Indices of the highest-scoring strictly increasing label subsequence (bodies kept in order)."""
    n = len(labels)
    best, prev = list(scores), [-1] * n
    for i in range(n):
        for j in range(i):
            if labels[j] < labels[i] and best[j] + scores[i] > best[i]:
                best[i], prev[i] = best[j] + scores[i], j
    i, keep = int(np.argmax(best)), []
    while i >= 0:
        keep.append(i)
        i = prev[i]
    return keep[::-1]


def _assign_levels(bodies: list, warnings: list) -> list:
    """Final (body, label id) pairs along the spine; fixes swapped or duplicated identities where it can."""
    labels = [b.label for b in bodies]
    n_levels = len(VERTEBRAE)
    if all(b - a == 1 for a, b in zip(labels, labels[1:])):
        return list(zip(bodies, labels))
    # Bodies one pitch apart are consecutive levels, whatever ids the network gave them: count from the run
    # that agrees best with the network (C2, with its dens, is the level it rarely gets wrong).
    if len(bodies) <= n_levels and contiguous([b.centroid for b in bodies]):
        scores = [b.score for b in bodies]
        options = range(1, n_levels - len(bodies) + 2)
        start = max(options, key=lambda s: sum(w for i, w in enumerate(scores) if labels[i] == s + i))
        new = [start + i for i in range(len(bodies))]
        names = [f"{VERTEBRAE[a - 1]}->{VERTEBRAE[b - 1]}" for a, b in zip(labels, new) if a != b]
        warnings.append(f"levels re-ordered: {', '.join(names)}")
        return list(zip(bodies, new))
    if all(a < b for a, b in zip(labels, labels[1:])):
        return list(zip(bodies, labels))  # a gap in position as well: a level was missed, the ids stand
    keep = _best_subsequence(labels, [b.score for b in bodies])
    dropped = [VERTEBRAE[labels[i] - 1] for i in range(len(bodies)) if i not in keep]
    warnings.append(f"out-of-order blobs removed (labelled {', '.join(dropped)})")
    return [(bodies[i], labels[i]) for i in keep]


def _local_axes(centroids: np.ndarray, sign: float) -> tuple:
    """Cranial unit axis per body from its neighbours' centroids, and the anterior perpendicular."""
    axes = []
    for i in range(len(centroids)):
        lo, hi = max(i - 1, 0), min(i + 1, len(centroids) - 1)
        d = centroids[lo] - centroids[hi]  # upper minus lower: points cranially
        axes.append(d / max(np.hypot(*d), 1e-9))
    axes = np.array(axes)
    # Rotating the cranial axis by -90 degrees (image y down) points to +x for an upright spine.
    anterior = sign * np.stack([-axes[:, 1], axes[:, 0]], axis=1)
    return axes, anterior


def _canal_and_side(label: np.ndarray, comps: dict, centroids: np.ndarray, depth_px: float) -> tuple:
    """Largest canal blob restricted to the band behind the bodies, and the anterior sign (+1 faces right)."""
    canal = np.zeros(label.shape, dtype=bool)
    blobs = comps.get(CANAL_ID, [])
    if not blobs or len(centroids) < 2:
        return canal, 0.0
    blob = blobs[0]
    pts = blob.points()
    axis = principal_axis(centroids)
    normal = np.array([-axis[1], axis[0]])
    t_body, t_pix = centroids @ axis, pts @ axis
    offset = pts @ normal - np.interp(t_pix, t_body, centroids @ normal)
    back = float(np.sign(np.median(offset))) or 1.0
    pitch = float(np.median(np.diff(t_body)))
    inside = (
        (back * offset > CANAL_BAND_DEPTHS[0] * depth_px)
        & (back * offset < CANAL_BAND_DEPTHS[1] * depth_px)
        & (t_pix > t_body[0] - pitch)
        & (t_pix < t_body[-1] + pitch)
    )
    canal[pts[inside, 1].astype(int), pts[inside, 0].astype(int)] = True
    # normal points to -x for a downward axis, so the canal on the +normal side means the patient faces right.
    return canal, back * float(np.sign(normal[0]) or 1.0) * -1.0


def _typical_height(heights: Sequence[float], names: Sequence[str]) -> float:
    """Median body height along the spine, C2 left out (its dens makes it about twice as tall); 1 when none."""
    return float(np.median([h for h, name in zip(heights, names) if name != "C2"] or [1.0]))


def _pitches(centroids: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Centre-to-centre distance of consecutive bodies per level between them (a skipped level halves it)."""
    ids = np.array([VERTEBRAE.index(name) for name in names])
    return np.hypot(*np.diff(np.asarray(centroids, dtype=np.float64), axis=0).T) / np.diff(ids)


def _turns_deg(centroids: np.ndarray) -> np.ndarray:
    """Angle in degrees between consecutive centre-to-centre steps, one per inner body (empty under three)."""
    steps = np.diff(np.asarray(centroids, dtype=np.float64), axis=0)
    heading = np.arctan2(steps[:, 0], steps[:, 1])
    return np.abs(np.degrees(np.angle(np.exp(1j * np.diff(heading)))))


def _plausibility(report: LevelReport, spacing_mm, model_named_c2: bool = False) -> tuple:
    """(is_cervical_spine, reason) from the number, stacking, size and shape of the bodies.

    model_named_c2: the levels model also called the top body C2 (needed, with the shape, to accept two bodies).
    """
    n = len(report.found)
    # C2 with the next body below it, not C2 and a body a level further down: a film cut off above C4 shows C3
    # whole, and two blobs a gap apart are what a second look at a chest film made of its ribs.
    short_from_c2 = report.c2_in_view and report.found == list(VERTEBRAE[:n]) and n >= MIN_LEVELS_FROM_C2
    if n < MIN_LEVELS and not (short_from_c2 and model_named_c2):
        need = f"at least {MIN_LEVELS}, or C2 recognised with one body below it"
        return False, f"no cervical spine levels found: {n} vertebral bodies (need {need})"
    cents = np.array([report.centroid_px[lv] for lv in report.found])
    axis = principal_axis(cents)
    tilt_deg = float(np.degrees(np.arccos(min(abs(axis[1]), 1.0))))
    if tilt_deg > MAX_AXIS_TILT_DEG:
        return False, f"bodies are not stacked vertically (spine axis {tilt_deg:.0f} degrees from vertical)"
    turn = _turns_deg(cents)
    if turn.size and turn.max() > MAX_STEP_TURN_DEG:
        at = report.found[int(np.argmax(turn)) + 1]
        bend = f"the line through their centres turns {turn.max():.0f} degrees at {at}"
        return False, f"bodies do not form a column ({bend})"
    depth = float(np.median([report.depth_px[lv] for lv in report.found]))
    height = _typical_height([report.height_px[lv] for lv in report.found], report.found)
    if depth / max(height, 1e-9) > MAX_DEPTH_TO_HEIGHT:
        return False, f"bodies are {depth / height:.1f} times wider than tall: not a lateral view of the spine"
    pitch = _pitches(cents, report.found)
    if pitch.min() < PITCH_TO_HEIGHT_RANGE[0] * height or pitch.max() > PITCH_TO_HEIGHT_RANGE[1] * height:
        return False, f"bodies are not evenly stacked (centre spacing {pitch.min():.0f}-{pitch.max():.0f} px)"
    if spacing_mm is not None:
        mm = float(np.sqrt(spacing_mm[0] * spacing_mm[1]))
        if not BODY_DEPTH_MM_RANGE[0] <= depth * mm <= BODY_DEPTH_MM_RANGE[1]:
            return False, f"body depth {depth * mm:.1f} mm is outside {BODY_DEPTH_MM_RANGE} mm: not a cervical spine"
        if not BODY_HEIGHT_MM_RANGE[0] <= height * mm <= BODY_HEIGHT_MM_RANGE[1]:
            return False, f"body height {height * mm:.1f} mm is outside {BODY_HEIGHT_MM_RANGE} mm: not a cervical spine"
    return True, f"{n} cervical levels found ({report.found[0]}-{report.found[-1]})"


def clean_levels(
    label_map: np.ndarray,
    probabilities: Optional[np.ndarray] = None,
    spacing_mm: Optional[Sequence[float]] = None,
    film_shape: Optional[Sequence[int]] = None,
    offset: Sequence[int] = (0, 0),
) -> LevelReport:
    """Post-process a predicted level map: one body per level in cranio-caudal order, canal behind them.

    label_map: integer [rows, cols] with ids 0-7. probabilities: optional float32 [8, rows, cols] softmax output,
    used to pick the best-supported blob of a class. spacing_mm: (row_mm, col_mm) or None. film_shape and offset:
    the whole film's (rows, cols) and where the map's top-left pixel lies on it (row, col), to tell a level beyond
    the film's edge from one the model missed; by default the map is the whole film.

    Names are counted from C2 when the top body is recognised as C2 (``lib.anatomy.numbering``); otherwise they
    are the model's, with a warning saying so.
    """
    label = _check_inputs(label_map, probabilities, spacing_mm)
    pixel_mm2 = None if spacing_mm is None else float(spacing_mm[0] * spacing_mm[1])
    min_area_px = MIN_BODY_AREA_MM2 / pixel_mm2 if pixel_mm2 else MIN_BODY_AREA_FRACTION * label.size
    tip_px = DENS_TIP_AREA_OF_SPECK * min_area_px
    comps = components(label, probabilities, range(1, CANAL_ID + 1), tip_px)
    report = LevelReport(label_map=np.zeros_like(label))
    bodies = _candidate_bodies({c: comps.get(c, []) for c in range(1, CANAL_ID)}, min_area_px)
    bodies = _drop_small(merge_fragments(order_along_axis(bodies)))
    bodies = join_dens_tips(bodies, [b for b in comps.get(C2_ID, []) if b.area_px < min_area_px])
    film = tuple(film_shape) if film_shape is not None else label.shape
    on_edge = _film_edge_test(film, offset)
    assigned = _drop_overlapping_last(_numbered(bodies, report, on_edge), report.warnings) if bodies else []
    numbering_warnings, c2_in_view = list(report.warnings), report.c2_in_view
    _finish(report, assigned, label, comps, pixel_mm2, spacing_mm, film, offset)
    for trimmed in range(1, MAX_CAUDAL_TRIM + 1):
        kept = assigned[:-trimmed]
        if report.is_cervical_spine or not report.c2_in_view or len(kept) < MIN_LEVELS_AFTER_TRIM:
            break
        trial = LevelReport(label_map=np.zeros_like(label), warnings=list(numbering_warnings), c2_in_view=c2_in_view)
        _finish(trial, kept, label, comps, pixel_mm2, spacing_mm, film, offset)
        if trial.is_cervical_spine:
            left_out = ", ".join(VERTEBRAE[level_id - 1] for _, level_id in assigned[-trimmed:])
            trial.warnings.insert(len(numbering_warnings), f"{left_out} left out: with them {report.reason}")
            report = trial
    if report.is_cervical_spine and not report.c2_in_view:
        report.warnings.append(C2_NOT_IN_VIEW)  # on a refused film there are no names to qualify
    if not report.is_cervical_spine:
        report.warnings.append(report.reason)
    logger.debug("levels found %s, missing %s", report.found, report.missing)
    return report


def _finish(report: LevelReport, assigned: list, label, comps, pixel_mm2, spacing_mm, film, offset) -> None:
    """Fill ``report`` from the numbered bodies: their map, the per-level fields, the missing levels and why, and
    whether they make a lateral cervical spine."""
    for body, level_id in assigned:
        report.label_map[body.box][body.mask] = level_id
    _describe(report, assigned, label, comps, pixel_mm2)
    report.missing_reason = missing_reasons(report, film, offset)
    _missing_warnings(report)
    model_named_c2 = bool(assigned) and assigned[0][0].label == C2_ID
    report.is_cervical_spine, report.reason = _plausibility(report, spacing_mm, model_named_c2)


def _heights_along_spine(bodies: list) -> list:
    """Height in px of each of ``bodies`` (cranio-caudal) along the local spine axis its neighbours give it."""
    axes, _ = _local_axes(np.array([b.centroid for b in bodies], dtype=np.float64), 1.0)
    return body_heights(bodies, axes)


def _film_edge_test(film_shape: Sequence[int], offset: Sequence[int]):
    """``on_edge(body)``: True when the body's pixels reach within ``FILM_EDGE_PX`` of the film's border (the map's
    top-left pixel lies at ``offset`` (row, col) on a film of ``film_shape``)."""
    rows, cols = int(film_shape[0]), int(film_shape[1])

    def on_edge(body) -> bool:
        r0, r1 = body.box[0].start + offset[0], body.box[0].stop + offset[0]
        c0, c1 = body.box[1].start + offset[1], body.box[1].stop + offset[1]
        return min(r0, c0) < FILM_EDGE_PX or r1 > rows - FILM_EDGE_PX or c1 > cols - FILM_EDGE_PX

    return on_edge


def _top_is_c2(bodies: list, on_edge) -> bool:
    """True when the first of ``bodies`` (cranio-caudal) is tall enough against the rest to be C2 with its dens,
    and lies inside the film: a top body at the film's edge is cut by it or spills past it, so its height is not
    its own."""
    return not on_edge(bodies[0]) and is_c2(_heights_along_spine(bodies))


def _numbered(bodies: list, report: LevelReport, on_edge) -> list:
    """(body, level id) pairs: counted from C2 when the top body is C2, else the model's ids made consistent.

    A blob above C2 (the skull base, the occiput or C1 painted as a body) hides C2 from the shape test; once the
    model's ids have put the stack in order and left such blobs out, a top body the model calls C2 and the shape
    test agrees with is C2 all the same.
    """
    report.c2_in_view = _top_is_c2(bodies, on_edge)
    if not report.c2_in_view:
        assigned = _assign_levels(bodies, report.warnings)
        kept = [body for body, _ in assigned]
        named_c2 = bool(assigned) and assigned[0][0].label == assigned[0][1] == C2_ID
        if not (named_c2 and len(kept) < len(bodies) and _top_is_c2(kept, on_edge)):
            return assigned
        bodies, report.c2_in_view = kept, True
    axis = principal_axis(np.array([b.centroid for b in bodies]))
    counted = count_from_c2(bodies, axis, report.warnings)
    note = relabel_warning([b.label for b, _ in counted], [level for _, level in counted])
    if note:
        report.warnings.append(note)
    return counted


def _drop_overlapping_last(assigned: list, warnings: list) -> list:
    """``assigned`` without its caudal-most bodies while each lies closer to the one above than a stacked body can.

    The lowest body is the one the shoulders cover, so the network often paints the lower half of C6 and a glimpse
    of C7 as one more body whose centre sits well under a pitch below C6. Refusing the whole film for that one
    blob would throw away the levels above it; leaving it out keeps them, and the level is reported missing
    (never invented). Only the caudal end is trimmed: a body in the middle that close is a real conflict, and the
    cranial end carries C2, which the names are counted from.
    """
    while len(assigned) > MIN_LEVELS:
        bodies = [body for body, _ in assigned]
        names = [VERTEBRAE[level_id - 1] for _, level_id in assigned]
        height = _typical_height(_heights_along_spine(bodies), names)
        step = float(_pitches(np.array([b.centroid for b in bodies[-2:]]), names[-2:])[0])
        if step >= PITCH_TO_HEIGHT_RANGE[0] * height:
            break
        lower, upper = names[-1], names[-2]
        warnings.append(
            f"{lower} left out: its centre lies {step:.0f} px from {upper}'s, under "
            f"{PITCH_TO_HEIGHT_RANGE[0]:g} body heights ({height:.0f} px), so it overlaps {upper}"
        )
        assigned = assigned[:-1]
    return assigned


def missing_reasons(report: LevelReport, film_shape: Sequence[int], offset: Sequence[int] = (0, 0)) -> dict:
    """``{level: "not in view" | "not found"}`` for each missing level.

    A level above the first or below the last body found is out of view when its expected centre (one pitch per
    level along the local spine axis, C2's step longer for the dens) lies within half a body height of the film's
    edge or beyond it; any other missing level, a gap inside the stack included, was not found.
    """
    if not report.found:
        return {lv: NOT_FOUND for lv in report.missing}
    rows, cols = int(film_shape[0]), int(film_shape[1])
    origin = np.array([float(offset[1]), float(offset[0])])  # [x, y] of the map's corner on the film
    heights = [report.height_px[lv] for lv in report.found if lv != "C2" and lv in report.height_px]
    height = float(np.median(heights)) if heights else 0.0
    ids = [VERTEBRAE.index(lv) for lv in report.found]
    cents = np.array([report.centroid_px[lv] for lv in report.found]) + origin
    pitch = _level_pitch(cents, ids)
    out = {}
    for level in report.missing:
        k = VERTEBRAE.index(level)
        if ids[0] < k < ids[-1] or pitch is None:
            out[level] = NOT_FOUND
            continue
        end = 0 if k < ids[0] else -1
        cranial = np.asarray(report.axis.get(report.found[end]) or -principal_axis(cents), dtype=float)
        levels_away = ids[end] - k  # positive above the stack, negative below
        extra = (C2_STEP_PITCHES - 1.0) if k == 0 else 0.0  # C2's centre sits higher: the dens
        centre = cents[end] + cranial * pitch * (levels_away + extra)
        margin = 0.5 * height
        inside = margin <= centre[0] <= cols - 1 - margin and margin <= centre[1] <= rows - 1 - margin
        out[level] = NOT_FOUND if inside else NOT_IN_VIEW
    return out


def _level_pitch(cents: np.ndarray, ids: Sequence[int]) -> Optional[float]:
    """Median centroid step per level between consecutive bodies found, leaving out C2's (longer, the dens) unless
    it is the only one; None for a single body."""
    steps = [
        float(np.hypot(*(cents[i + 1] - cents[i]))) / (ids[i + 1] - ids[i] + (C2_STEP_PITCHES - 1.0) * (ids[i] == 0))
        for i in range(len(ids) - 1)
    ]
    below_c2 = [st for st, first in zip(steps, ids) if first != 0]
    return float(np.median(below_c2 or steps)) if steps else None


def _missing_warnings(report: LevelReport) -> None:
    for level in report.missing:
        if report.missing_reason.get(level) == NOT_IN_VIEW:
            report.warnings.append(f"{level} not in view (beyond the film's edge)")
            continue
        hint = " (hidden by shoulders?)" if level in ("C6", "C7") and "C5" in report.found else ""
        report.warnings.append(f"{level} not found{hint}")


def _describe(report: LevelReport, assigned: list, label: np.ndarray, comps: dict, pixel_mm2) -> None:
    """Fill the per-level fields, the missing levels and the canal of ``report``."""
    for body, level_id in assigned:
        level = VERTEBRAE[level_id - 1]
        report.found.append(level)
        report.area_px[level] = int(body.area_px)
        report.area_mm2[level] = None if pixel_mm2 is None else round(body.area_px * pixel_mm2, 1)
        report.centroid_px[level] = [float(v) for v in body.centroid]
    report.missing = [lv for lv in VERTEBRAE if lv not in report.found]
    if not assigned:
        return
    cents = np.array([report.centroid_px[lv] for lv in report.found])
    axes, anterior_right = _local_axes(cents, 1.0)
    for (body, _), level, ax in zip(assigned, report.found, axes):
        depth, height = body.extent_px(ax)
        report.depth_px[level], report.height_px[level] = depth, height
    depth_px = float(np.median(list(report.depth_px.values())))
    canal, sign = _canal_and_side(label, comps, cents, depth_px)
    report.label_map[canal & (report.label_map == 0)] = CANAL_ID
    if sign == 0.0:
        report.warnings.append("spinal canal not found: assuming the patient faces left")
        sign = -1.0
    for level, ax, ant in zip(report.found, axes, anterior_right):
        report.axis[level] = [float(v) for v in ax]
        report.anterior[level] = [float(v) for v in sign * ant]


def not_in_view(report: LevelReport) -> list:
    """The missing levels whose place lies beyond the film's edge, cranial to caudal."""
    return [lv for lv in report.missing if report.missing_reason.get(lv) == NOT_IN_VIEW]


def segment_status(found_levels: Iterable[str], missing_reason: Optional[Mapping[str, str]] = None) -> dict:
    """``{segment: {"evaluable": bool, "reason": str}}``: evaluable only when both its bodies were found.

    missing_reason: ``LevelReport.missing_reason``; a body beyond the film's edge reads "C5 not in view", any
    other absent body "C5 not found".
    """
    found, why = set(found_levels), dict(missing_reason or {})
    out = {}
    for segment in SEGMENTS:
        absent = [lv for lv in segment_bodies(segment) if lv not in found]
        if not absent:
            reason = "both bodies found"
        else:
            groups = {}
            for lv in absent:
                groups.setdefault(why.get(lv, NOT_FOUND), []).append(lv)
            reason = "; ".join(f"{' and '.join(lvs)} {state}" for state, lvs in groups.items())
        out[segment] = {"evaluable": not absent, "reason": reason}
    return out


def multilabel_dice(a: np.ndarray, b: np.ndarray, labels: Mapping[str, int] = LEVEL_LABELS) -> dict:
    """Dice per label between two label maps of one shape: ``{name: dice or None, "mean": float or None}``.

    None where the label is absent from both maps; the mean is over the labels that are not None.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise BadInputError(f"label maps differ in shape: {a.shape} vs {b.shape}")
    n = max(int(a.max(initial=0)), int(b.max(initial=0)), *labels.values()) + 1
    joint = np.bincount(a.astype(np.int64).ravel() * n + b.astype(np.int64).ravel(), minlength=n * n).reshape(n, n)
    out = {}
    for name, idx in labels.items():
        total = joint[idx, :].sum() + joint[:, idx].sum()
        out[name] = None if total == 0 else float(2.0 * joint[idx, idx] / total)
    values = [v for v in out.values() if v is not None]
    out["mean"] = float(np.mean(values)) if values else None
    return out
