"""Blobs of a predicted level map: connected pieces per level id, and the joining of a body split between ids.

Coordinates are pixels ``[x, y]`` (x = column, y = row); a blob keeps its bounding box and a boolean mask inside it
so no step scans the whole image per blob.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np
from scipy import ndimage

FRAGMENT_PITCH_FRACTION = 0.5  # two touching candidates closer than this many pitches are one split body
DENS_PITCHES = 1.5  # a C2 blob this close above another C2 blob is its dens
C2_ID = 1
BODY_PITCH_PER_SIDE = 1.3  # body plus disc over the side of a square of the body's area


@dataclass
class Component:
    """One connected blob of a class: bounding box, boolean mask inside it, area, support score, centroid [x, y]."""

    label: int
    box: tuple
    mask: np.ndarray
    area_px: int
    score: float
    centroid: np.ndarray

    def points(self) -> np.ndarray:
        """Pixel centres [N, 2] (x, y) float64 of the blob."""
        ys, xs = np.nonzero(self.mask)
        return np.stack([xs + self.box[1].start, ys + self.box[0].start], axis=1).astype(np.float64)

    def extent_px(self, axis: np.ndarray) -> tuple:
        """(depth, height) in px: 1st-99th percentile spread across and along the unit ``axis``."""
        pts = self.points() - self.centroid
        along = pts @ axis
        across = pts @ np.array([-axis[1], axis[0]])
        p_across, p_along = np.percentile(across, [1, 99]), np.percentile(along, [1, 99])
        return float(p_across[1] - p_across[0]), float(p_along[1] - p_along[0])


def components(
    label: np.ndarray, probabilities: Optional[np.ndarray], ids: Iterable[int], min_area_px: float = 0.0
) -> dict:
    """``{id: [Component, ...]}`` best first (probability mass when given, else area), blobs under
    ``min_area_px`` left out; works on bounding boxes so that no step scans the whole image per blob."""
    ids = list(ids)
    boxes = ndimage.find_objects(label, max_label=max(ids))
    out = {}
    for idx in ids:
        box = boxes[idx - 1]
        if box is None:
            continue
        blobs, n = ndimage.label(label[box] == idx)
        index = np.arange(1, n + 1)
        areas = np.bincount(blobs.ravel(), minlength=n + 1)[1:]
        scores = (
            areas.astype(float)
            if probabilities is None
            else np.asarray(ndimage.sum_labels(probabilities[idx][box], blobs, index), dtype=float)
        )
        subs = ndimage.find_objects(blobs)
        found = []
        for k in np.argsort(-scores):
            if areas[k] < max(min_area_px, 1):
                continue
            sub = subs[k]
            full = (
                slice(box[0].start + sub[0].start, box[0].start + sub[0].stop),
                slice(box[1].start + sub[1].start, box[1].start + sub[1].stop),
            )
            mask = blobs[sub] == k + 1
            ys, xs = np.nonzero(mask)
            centre = np.array([xs.mean() + full[1].start, ys.mean() + full[0].start])
            found.append(Component(idx, full, mask, int(areas[k]), float(scores[k]), centre))
        out[idx] = found
    return out


def merge_fragments(bodies: list) -> list:
    """Join pieces of one body the network split between two ids (part C5, part C6), then C2 and its dens.

    ``bodies`` in cranio-caudal order. First, consecutive candidates whose pixels touch and whose centres are
    closer than half the typical pitch become one body (the larger piece gives the id). Then two consecutive C2
    bodies become one: C2 is the only level with a process (the dens) reaching a body height above it. The
    second pass runs on the result of the first, so a fragment between the dens and C2's body does not hide them
    from each other.
    """
    if len(bodies) < 3:
        return bodies
    pitch = typical_pitch_px(bodies)

    def close(a: Component, b: Component) -> bool:
        return _step(a, b) < FRAGMENT_PITCH_FRACTION * pitch and _touching(a, b)

    def dens(a: Component, b: Component) -> bool:
        return a.label == b.label == C2_ID and _step(a, b) < DENS_PITCHES * pitch

    return _merge_consecutive(_merge_consecutive(bodies, close), dens)


def join_dens_tips(bodies: list, pieces: Iterable[Component]) -> list:
    """``bodies`` with each C2 ``piece`` above the best-supported C2 body, within ``DENS_PITCHES`` of it, joined to it.

    ``bodies``: cranio-caudal, after ``merge_fragments``. ``pieces``: C2 blobs too small to stand as bodies (under
    the speck size). A line of background through the dens leaves its tip as such a piece; it belongs to C2 and
    makes C2 the tallest body, which is how C2 is recognised. Only C2's pieces are taken: elsewhere a piece that
    small is debris, and letting it into the stack would move the pitch and the merges of the real bodies.
    """
    c2_bodies = [i for i, body in enumerate(bodies) if body.label == C2_ID]
    if not c2_bodies or len(bodies) < 2:
        return bodies
    first = max(c2_bodies, key=lambda i: bodies[i].score)  # not a blob of the skull base the model also called C2
    c2 = bodies[first]
    caudal = bodies[-1].centroid - bodies[0].centroid
    caudal = caudal / max(float(np.hypot(*caudal)), 1e-9)
    pitch = typical_pitch_px(bodies)
    for piece in pieces:
        above = float((piece.centroid - c2.centroid) @ caudal) < 0
        if piece.label == C2_ID and above and _step(piece, c2) < DENS_PITCHES * pitch:
            c2 = _union(c2, piece)
    return bodies[:first] + [c2] + bodies[first + 1 :]


def _step(a: Component, b: Component) -> float:
    return float(np.hypot(*(b.centroid - a.centroid)))


def _merge_consecutive(bodies: list, same_body) -> list:
    merged = [bodies[0]]
    for body in bodies[1:]:
        if same_body(merged[-1], body):
            merged[-1] = _union(merged[-1], body)
        else:
            merged.append(body)
    return merged


def typical_pitch_px(bodies: list) -> float:
    """Centre-to-centre distance of adjacent bodies, from the size of the larger half of the blobs.

    Steps between candidates are no guide while fragments sit between them; a body is about as tall as it is
    deep and body plus disc about 1.3 times its side, so the side of the typical large blob sets the pitch.
    """
    areas = sorted(b.area_px for b in bodies)
    return BODY_PITCH_PER_SIDE * float(np.sqrt(np.median(areas[len(areas) // 2 :])))


def _touching(a: Component, b: Component, gap_px: int = 2) -> bool:
    """True when the two blobs come within ``gap_px`` pixels of each other."""
    rows = slice(min(a.box[0].start, b.box[0].start), max(a.box[0].stop, b.box[0].stop))
    cols = slice(min(a.box[1].start, b.box[1].start), max(a.box[1].stop, b.box[1].stop))
    canvas_a = np.zeros((rows.stop - rows.start, cols.stop - cols.start), dtype=bool)
    canvas_b = np.zeros_like(canvas_a)
    canvas_a[
        a.box[0].start - rows.start : a.box[0].stop - rows.start,
        a.box[1].start - cols.start : a.box[1].stop - cols.start,
    ] = a.mask
    canvas_b[
        b.box[0].start - rows.start : b.box[0].stop - rows.start,
        b.box[1].start - cols.start : b.box[1].stop - cols.start,
    ] = b.mask
    return bool((ndimage.binary_dilation(canvas_a, iterations=gap_px) & canvas_b).any())


def _union(a: Component, b: Component) -> Component:
    rows = slice(min(a.box[0].start, b.box[0].start), max(a.box[0].stop, b.box[0].stop))
    cols = slice(min(a.box[1].start, b.box[1].start), max(a.box[1].stop, b.box[1].stop))
    mask = np.zeros((rows.stop - rows.start, cols.stop - cols.start), dtype=bool)
    for part in (a, b):
        mask[
            part.box[0].start - rows.start : part.box[0].stop - rows.start,
            part.box[1].start - cols.start : part.box[1].stop - cols.start,
        ] |= part.mask
    area = a.area_px + b.area_px
    centre = (a.centroid * a.area_px + b.centroid * b.area_px) / area
    label = a.label if a.area_px >= b.area_px else b.label
    return Component(label, (rows, cols), mask, int(mask.sum()), a.score + b.score, centre)
