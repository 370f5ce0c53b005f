"""Per-film and per-shift figures of the robustness benchmark on hand-made answers."""

import numpy as np
import pytest

from lib.evaluation.robustness import film_record, level_dice, markdown_table, named_correctly, summarise


def _truth():
    truth = np.zeros((60, 20), dtype=np.uint8)
    for k in range(5):  # C2..C6, ten rows each with a gap
        truth[2 + 11 * k : 11 + 11 * k, 5:15] = k + 1
    return truth


def _result(found, probabilities, positive_from=0.5):
    segments = {
        s: {"probability": p, "positive": None if p is None else p >= positive_from} for s, p in probabilities.items()
    }
    return {
        "cervical_spine_found": True,
        "reason": "ok",
        "levels": {"found": found, "c2_in_view": True},
        **{"segments": segments},
    }


def test_dice_and_identity_of_a_film_named_one_level_off():
    truth = _truth()
    shifted = np.where(truth > 0, np.clip(truth + 1, 1, 6), 0).astype(np.uint8)  # every body called one lower
    assert level_dice(truth, truth) == 1.0 and level_dice(shifted, truth) == 0.0
    assert named_correctly(truth, truth, ["C2", "C3", "C4", "C5", "C6"]) == (5, 5)
    assert named_correctly(shifted, truth, ["C3", "C4", "C5", "C6", "C7"]) == (0, 5)
    assert level_dice(np.zeros_like(truth), np.zeros_like(truth)) is None


def test_summary_counts_calls_on_films_whose_levels_are_wrong():
    truth = _truth()
    targets = {"C2/3": 1, "C3/4": 0, "C4/5": 1, "C5/6": 0, "C6/7": None}
    right = film_record(
        _result(["C2", "C3", "C4", "C5", "C6"], {"C2/3": 0.95, "C3/4": 0.1, "C4/5": 0.7, "C5/6": 0.2, "C6/7": None}),
        truth,
        truth,
        targets,
    )
    shifted = np.where(truth > 0, np.clip(truth + 1, 1, 6), 0).astype(np.uint8)
    wrong = film_record(
        _result(["C3", "C4", "C5", "C6", "C7"], {"C2/3": None, "C3/4": 0.97, "C4/5": 0.6, "C5/6": 0.1, "C6/7": 0.3}),
        shifted,
        truth,
        targets,
    )
    failed = film_record(None, None, truth, targets, error="unreadable")
    figures = summarise([right, wrong, failed])
    assert figures["films"] == 3 and figures["spine_found"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["level_identity"] == 0.5 and figures["bodies_found"] == 10
    assert figures["level_dice"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["films_levels_wrong"] == 1
    assert figures["positive_calls_levels_wrong"] == 2 and figures["confident_calls_levels_wrong"] == 1
    assert figures["segments_assessed"] == pytest.approx(7 / 12, abs=1e-4) and figures["errors"] == 1
    # Assessed pairs: right (1, .95) (0, .1) (1, .7) (0, .2); wrong (0, .97) (1, .6) (0, .1).
    assert figures["segment_auc"] == pytest.approx(9 / 12, abs=1e-4)  # 9 of the 12 positive-negative pairs ordered
    assert "| spine found |" in markdown_table({"none": figures}, {"none": "as stored"})


def test_auc_is_undefined_with_one_class():
    truth = _truth()
    record = film_record(_result(["C2"], {"C2/3": 0.4}), truth, truth, {"C2/3": 0})
    figures = summarise([record])
    assert figures["segment_auc"] is None and "one class" in figures["segment_auc_note"]
