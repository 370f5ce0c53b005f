"""The app's anatomical vocabulary, in one place: level labels and their ids, disc segments, body corners.

Every other module (label files, post-processing, measurements, crops, findings, evaluation) takes these names
from here, so an id or a segment can never mean two things in two places.
"""

from __future__ import annotations

from lib.core.errors import BadInputError

# Level labels by name; ids follow (clients send names, Slicer in its own order). Background is 0.
LEVEL_LABELS: dict[str, int] = {"C2": 1, "C3": 2, "C4": 3, "C5": 4, "C6": 5, "C7": 6, "spinal_canal": 7}
VERTEBRAE: tuple[str, ...] = ("C2", "C3", "C4", "C5", "C6", "C7")
CANAL_ID = LEVEL_LABELS["spinal_canal"]
# Disc segments, cranial to caudal: the study's unit of analysis.
SEGMENTS: tuple[str, ...] = ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7")
# The four corners of a vertebral body, the landmarks every measurement and crop is built on.
CORNERS: tuple[str, ...] = ("anterior_superior", "anterior_inferior", "posterior_superior", "posterior_inferior")
# A finding painted over its disc space in a pipeline label map: "C2/3 compression" = 8 .. "C6/7 compression" = 12.
FINDING_LABELS: dict[str, int] = {f"{seg} compression": CANAL_ID + 1 + i for i, seg in enumerate(SEGMENTS)}


def segment_bodies(segment: str) -> tuple[str, str]:
    """The two vertebrae around a disc segment: ``"C5/6" -> ("C5", "C6")``."""
    if segment not in SEGMENTS:
        raise BadInputError(f"unknown segment {segment!r}; allowed: {', '.join(SEGMENTS)}")
    upper, lower = segment.split("/")
    return upper, "C" + lower


def is_finding_name(name: str) -> bool:
    """Names like ``"C5/6 compression"``: the pipeline's finding overlays, not anatomy to train on."""
    parts = str(name).strip().split(" ", 1)
    return len(parts) == 2 and parts[0] in SEGMENTS and parts[1].lower() == "compression"
