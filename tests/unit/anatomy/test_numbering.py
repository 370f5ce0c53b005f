"""Level names counted from C2, levels beyond the film's edge, and films cut off above C4, on phantom label maps."""

import numpy as np
import pytest

from lib.anatomy.levels import NOT_FOUND, NOT_IN_VIEW, clean_levels, not_in_view, segment_status
from lib.anatomy.numbering import C2_NOT_IN_VIEW, is_c2
from lib.phantom.config import cohort_config
from lib.phantom.patient import sample_patient
from lib.phantom.truth import level_mask


@pytest.fixture(scope="module")
def six_levels():
    """True level map (C2..C7 and canal) and spacing of the first phantom patient with all six bodies."""
    for index in range(10):
        spec = sample_patient(cohort_config(patients=index + 1, seed=3), index)
        mask = level_mask(spec)
        if set(np.unique(mask)) == set(range(8)):
            return mask, (spec.spacing_mm, spec.spacing_mm)
    raise AssertionError("no phantom patient with all six levels in the first ten")


def _rows(mask, level_id):
    rows = np.nonzero((mask == level_id).any(axis=1))[0]
    return int(rows.min()), int(rows.max())


def _shift_names(mask, by):
    """The model's mistake after a crop: every body named ``by`` levels lower (C2 -> C3 for by=1); canal kept."""
    out = mask.copy()
    bodies = (mask >= 1) & (mask <= 6)
    out[bodies] = np.clip(mask[bodies].astype(int) + by, 1, 6)
    return out.astype(np.uint8)


def test_c2_is_recognised_by_its_height():
    assert is_c2([220, 100, 97, 96]) and not is_c2([100, 100, 97, 96])
    assert not is_c2([400, 100, 100]), "a blob over three bodies tall is fused bodies, not C2"
    assert not is_c2([220]), "one body alone gives nothing to compare it with"


def test_true_stack_is_counted_from_c2_without_warnings(six_levels):
    mask, spacing = six_levels
    report = clean_levels(mask, spacing_mm=spacing)
    assert report.c2_in_view and report.found == ["C2", "C3", "C4", "C5", "C6", "C7"]
    assert not any("renumbered" in w or "C2 not in view" in w for w in report.warnings), report.warnings


def test_the_count_from_c2_wins_over_the_model_names(six_levels):
    # The whole stack named one level too low (C2's body called C3, ...; the last body, C7, stays C7): counting
    # from the tall top body gives the true names back, and a warning names every relabelling.
    mask, spacing = six_levels
    report = clean_levels(_shift_names(mask, 1), spacing_mm=spacing)
    assert report.c2_in_view and report.is_cervical_spine, report.reason
    bodies = (mask >= 1) & (mask <= 6)
    np.testing.assert_array_equal(report.label_map[bodies], mask[bodies])
    renamed = [w for w in report.warnings if w.startswith("levels renumbered counting from C2")]
    assert len(renamed) == 1 and "C3->C2" in renamed[0] and "C7->C6" in renamed[0], report.warnings


def test_a_skipped_level_stays_missing(six_levels):
    # The model missed C4 and named the bodies below it one level too high: the step of two pitches is counted
    # as a missing level; C4 is neither invented nor taken from C5.
    mask, spacing = six_levels
    broken = np.where(mask == 3, 0, mask).astype(np.uint8)
    lower = (mask >= 4) & (mask <= 6)
    broken[lower] = mask[lower] - 1  # C5 named C4, C6 named C5, C7 named C6
    report = clean_levels(broken, spacing_mm=spacing)
    assert report.found == ["C2", "C3", "C5", "C6", "C7"] and report.missing == ["C4"]
    assert report.missing_reason == {"C4": NOT_FOUND} and 3 not in report.label_map
    np.testing.assert_array_equal(report.label_map == 4, mask == 4)
    status = segment_status(report.found, report.missing_reason)
    assert status["C3/4"] == {"evaluable": False, "reason": "C4 not found"}


def test_without_c2_the_model_names_stand_with_a_warning(six_levels):
    # A tight crop whose top lies below C2: the model names C3 "C2" (everything one level too high). C2 is not
    # recognised, so the names are the model's, and the report says they were not counted from C2.
    mask, spacing = six_levels
    top = _rows(mask, 1)[1] + 1
    cropped = _shift_names(mask[top:], -1)
    report = clean_levels(cropped, spacing_mm=spacing)
    assert not report.c2_in_view and report.is_cervical_spine, report.reason
    assert C2_NOT_IN_VIEW in report.warnings
    assert report.found[0] == "C2"  # the model's (wrong) estimate, flagged above


def test_c2_above_the_film_edge_is_not_in_view(six_levels):
    mask, spacing = six_levels
    top = _rows(mask, 1)[1] + 1
    report = clean_levels(mask[top:], spacing_mm=spacing)
    assert report.found == ["C3", "C4", "C5", "C6", "C7"] and not report.c2_in_view
    assert report.missing_reason == {"C2": NOT_IN_VIEW} and not_in_view(report) == ["C2"]
    assert "C2 not in view (beyond the film's edge)" in report.warnings and C2_NOT_IN_VIEW in report.warnings
    assert segment_status(report.found, report.missing_reason)["C2/3"]["reason"] == "C2 not in view"


@pytest.mark.parametrize("last", ["C3", "C4"])
def test_a_film_cut_off_above_c4_or_c5_is_reported_not_refused(six_levels, last):
    mask, spacing = six_levels
    next_id = {"C3": 3, "C4": 4}[last]  # the first body out of the field: C4 or C5
    bottom = _rows(mask, next_id)[0]  # no pixel of it stays in the field
    report = clean_levels(mask[:bottom], spacing_mm=spacing)
    visible = ["C2", "C3"] if last == "C3" else ["C2", "C3", "C4"]
    assert report.is_cervical_spine, report.reason
    assert report.found == visible and report.c2_in_view
    assert set(report.missing_reason.values()) == {NOT_IN_VIEW}, report.missing_reason
    status = segment_status(report.found, report.missing_reason)
    assert status["C2/3"]["evaluable"] and (last == "C3" or status["C3/4"]["evaluable"])
    first_out = {"C3": "C4", "C4": "C5"}[last]
    upper = {"C3": "C3/4", "C4": "C4/5"}[last]
    assert status[upper] == {"evaluable": False, "reason": f"{first_out} not in view"}
    assert status["C6/7"]["reason"] == "C6 and C7 not in view"
    assert f"{first_out} not in view (beyond the film's edge)" in report.warnings


def test_c2_and_a_body_a_level_further_down_are_refused(six_levels):
    # C2 and C4 alone, C3 missing between them: not the C2 and C3 of a film cut off above C4, so two bodies stay too
    # few (a second look at a chest film gave such a pair).
    mask, spacing = six_levels
    field = np.where(mask == 2, 0, mask)[: _rows(mask, 4)[0]].astype(np.uint8)  # C3 gone, cut off above C5
    report = clean_levels(field, spacing_mm=spacing)
    assert not report.is_cervical_spine, report.reason


def test_two_bodies_without_a_recognised_c2_are_refused(six_levels):
    # C3 and C4 alone: nothing anchors them, and two similar blobs are too little to call a cervical spine.
    mask, spacing = six_levels
    top, bottom = _rows(mask, 1)[1] + 1, _rows(mask, 4)[0]
    report = clean_levels(mask[top:bottom], spacing_mm=spacing)
    assert not report.is_cervical_spine
    assert "need at least 3, or C2 recognised with one body below it" in report.reason


def test_two_bodies_need_the_model_to_call_the_top_one_c2(six_levels):
    # C2 and C3 in the field but named C3 and C4 by the model: shape alone does not make two blobs a spine.
    mask, spacing = six_levels
    bottom = _rows(mask, 3)[0]
    report = clean_levels(_shift_names(mask[:bottom], 1), spacing_mm=spacing)
    assert not report.is_cervical_spine and "no cervical spine levels found" in report.reason


def test_a_level_missing_inside_the_film_is_not_found(six_levels):
    # C7 removed where the film goes on below C6 (the shoulders hide it): not found, not "not in view".
    mask, spacing = six_levels
    report = clean_levels(np.where(mask == 6, 0, mask).astype(np.uint8), spacing_mm=spacing)
    assert report.missing_reason == {"C7": NOT_FOUND}
    assert "C7 not found (hidden by shoulders?)" in report.warnings


def test_the_film_shape_and_offset_place_a_crop_of_the_film(six_levels):
    # The levels task hands over the predicted region of the film, not the whole film: with the film's shape the
    # same crop is judged against the film's edges instead of its own.
    mask, spacing = six_levels
    no_c7 = np.where(mask == 6, 0, mask).astype(np.uint8)
    rows = np.nonzero(no_c7.any(axis=1))[0]
    region = no_c7[rows.min() : rows.max() + 1]  # ends at the bottom of C6 (the canal may reach a little lower)
    alone = clean_levels(region, spacing_mm=spacing)
    on_film = clean_levels(region, spacing_mm=spacing, film_shape=mask.shape, offset=(int(rows.min()), 0))
    assert alone.missing_reason == {"C7": NOT_IN_VIEW} and on_film.missing_reason == {"C7": NOT_FOUND}
