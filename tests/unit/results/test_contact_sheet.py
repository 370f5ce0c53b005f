"""The contact sheet of overlays and the per-film outcome."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib.core.errors import BadParameterError
from lib.results.contact_sheet import contact_sheet, film_outcome, outcome_caption, tile_grid


def _result(found, spine=True, reason="", decisions=None):
    decisions = decisions or {}
    segments = {s: {"decision": decisions.get(s)} for s in ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7")}
    return {"cervical_spine_found": spine, "reason": reason, "levels": {"found": found}, "segments": segments}


def test_outcome_of_a_found_spine_records_levels_c2_and_calls():
    out = film_outcome(_result(["C2", "C3", "C4"], decisions={"C2/3": "compressed", "C3/4": "not compressed"}))
    assert out["cervical_spine_found"] and out["c2_anchored"] and out["levels_found"] == ["C2", "C3", "C4"]
    assert out["segments"] == {
        "C2/3": "compressed",
        "C3/4": "not compressed",
        "C4/5": None,
        "C5/6": None,
        "C6/7": None,
    }
    caption = outcome_caption("a.png", out)
    assert caption.splitlines() == ["a.png", "levels C2-C4 (3)", "compressed: C2/3"]


def test_outcome_without_c2_is_not_anchored_and_says_so():
    out = film_outcome(_result(["C3", "C4", "C5"]))
    assert not out["c2_anchored"]
    assert "no C2" in outcome_caption("b.dcm", out)


def test_a_refused_film_carries_its_reason_and_an_error_its_message():
    refused = film_outcome(_result(["C2", "C4"], spine=False, reason="bodies are not evenly stacked"))
    assert not refused["cervical_spine_found"] and refused["error"] is None and not refused["c2_anchored"]
    assert refused["levels_found"] == [] and refused["candidate_levels"] == ["C2", "C4"]
    assert outcome_caption("c.jpg", refused) == "c.jpg\nrefused: bodies are not evenly stacked"
    failed = film_outcome(None, "cannot read the file")
    assert failed["error"] == "cannot read the file" and failed["levels_found"] == []
    assert "error: cannot read the file" in outcome_caption("d.dcm", failed)


@pytest.mark.parametrize("n, columns, expected", [(1, 4, (1, 1)), (3, 4, (1, 3)), (5, 4, (2, 4)), (8, 4, (2, 4))])
def test_sheet_size_follows_the_tile_grid(n, columns, expected):
    tiles = [(Image.fromarray(np.full((50, 30), 20 * i, np.uint8)), f"film {i}") for i in range(n)]
    sheet = contact_sheet(tiles, columns=columns, tile_px=64)
    rows, cols = tile_grid(n, columns)
    assert (rows, cols) == expected
    assert sheet.width % cols == 0 and sheet.height % rows == 0
    assert sheet.width // cols == sheet.width // expected[1]


def test_each_tile_is_pasted_in_its_cell():
    tiles = [(Image.new("RGB", (64, 64), (255, 0, 0)), "red"), (Image.new("RGB", (64, 64), (0, 0, 255)), "blue")]
    sheet = np.asarray(contact_sheet(tiles, columns=2, tile_px=64))
    cell_w = sheet.shape[1] // 2
    assert tuple(sheet[30, 30]) == (255, 0, 0)
    assert tuple(sheet[30, cell_w + 30]) == (0, 0, 255)


def test_an_empty_sheet_is_refused():
    with pytest.raises(BadParameterError):
        contact_sheet([])
