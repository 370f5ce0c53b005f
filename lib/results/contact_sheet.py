"""A contact sheet of pipeline overlays (one captioned tile per film) and the outcome of one film in a few fields.

Used to see at a glance what the pipeline makes of a folder of real radiographs: for each film the levels it found,
or why it refused. PIL only.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

from lib.anatomy.names import SEGMENTS
from lib.core.errors import BadParameterError

CAPTION_LINES = 3
BACKGROUND = (40, 40, 40)


def film_outcome(result: Optional[Mapping], error: Optional[str] = None) -> dict:
    """What the pipeline found on one film, from its result JSON (or the error that stopped it).

    Returns ``{"cervical_spine_found", "levels_found", "candidate_levels", "c2_anchored", "reason", "segments",
    "error"}``: ``levels_found`` the levels of an accepted spine (empty when the film was refused),
    ``candidate_levels`` the bodies the levels model proposed before the plausibility checks (also on a refused
    film), ``c2_anchored`` whether C2 is among the levels found (level identity counted from C2), ``segments``
    each segment's ``"compressed"``, ``"not compressed"`` or ``None`` (not assessed).
    """
    if result is None:
        return {
            "cervical_spine_found": False,
            "levels_found": [],
            "candidate_levels": [],
            "c2_anchored": False,
            "reason": error or "no result",
            "segments": {s: None for s in SEGMENTS},
            "error": error or "no result",
        }
    candidates = list((result.get("levels") or {}).get("found") or [])
    spine = bool(result.get("cervical_spine_found"))
    found = candidates if spine else []
    segments = result.get("segments") or {}
    return {
        "cervical_spine_found": spine,
        "levels_found": found,
        "candidate_levels": candidates,
        # Counted from a recognised C2 (pipeline JSON ``levels.c2_in_view``); older answers: C2 among the levels.
        "c2_anchored": spine and bool((result.get("levels") or {}).get("c2_in_view", "C2" in found)),
        "reason": str(result.get("reason") or ""),
        "segments": {s: (segments.get(s) or {}).get("decision") for s in SEGMENTS},
        "error": None,
    }


def outcome_caption(name: str, outcome: Mapping) -> str:
    """Two or three short lines: the file name, then the levels found or the refusal reason."""
    if outcome.get("error"):
        return f"{name}\nerror: {outcome['error']}"
    if outcome["cervical_spine_found"]:
        levels = outcome["levels_found"]
        calls = [s for s, d in outcome["segments"].items() if d == "compressed"]
        head = f"levels {levels[0]}-{levels[-1]} ({len(levels)})" + ("" if outcome["c2_anchored"] else ", no C2")
        return f"{name}\n{head}\ncompressed: {', '.join(calls) if calls else 'none'}"
    return f"{name}\nrefused: {outcome['reason']}"


def _font(size_px: int):
    try:
        return ImageFont.load_default(size=size_px)
    except (TypeError, OSError):  # PIL without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width_px: int) -> list:
    lines = []
    for paragraph in text.split("\n"):
        words, line = paragraph.split(" "), ""
        for word in words:
            trial = f"{line} {word}".strip()
            if line and draw.textlength(trial, font=font) > width_px:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def contact_sheet(
    tiles: Sequence[Tuple[Image.Image, str]], columns: int = 4, tile_px: int = 360, caption_px: int = 15
) -> Image.Image:
    """One RGB picture: each ``(image, caption)`` fitted into a ``tile_px`` square with its caption underneath.

    Tiles run left to right, top to bottom, ``columns`` to a row (fewer when there are fewer tiles). Captions are
    wrapped to the tile's width and cut at ``CAPTION_LINES + 2`` lines.
    """
    if not tiles:
        raise BadParameterError("contact sheet: no tiles to draw")
    if columns < 1 or tile_px < 32:
        raise BadParameterError(f"contact sheet: columns must be >= 1 and tile_px >= 32, got {columns}, {tile_px}")
    cols = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    font = _font(caption_px)
    text_h = (CAPTION_LINES + 2) * (caption_px + 3) + 6
    cell_w, cell_h = tile_px + 8, tile_px + text_h + 8
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, (picture, caption) in enumerate(tiles):
        x0, y0 = (i % cols) * cell_w + 4, (i // cols) * cell_h + 4
        thumb = picture.convert("RGB")
        thumb.thumbnail((tile_px, tile_px))
        sheet.paste(thumb, (x0 + (tile_px - thumb.width) // 2, y0 + (tile_px - thumb.height) // 2))
        lines = _wrap(draw, caption, font, tile_px)[: CAPTION_LINES + 2]
        for k, line in enumerate(lines):
            draw.text((x0, y0 + tile_px + 4 + k * (caption_px + 3)), line, fill=(255, 255, 255), font=font)
    return sheet


def tile_grid(n_tiles: int, columns: int) -> Tuple[int, int]:
    """(rows, columns) of the sheet ``contact_sheet`` draws for ``n_tiles`` tiles."""
    cols = min(columns, n_tiles)
    return math.ceil(n_tiles / cols), cols
