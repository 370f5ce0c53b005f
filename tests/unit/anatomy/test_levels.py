"""Post-processing of predicted level maps: clean-up, ordering, missing levels, plausibility, dice."""

import numpy as np
import pytest

from lib.anatomy.levels import MIN_BODY_AREA_MM2, clean_levels, multilabel_dice, segment_status
from lib.anatomy.names import VERTEBRAE
from lib.core.errors import BadInputError
from lib.phantom.config import cohort_config
from lib.phantom.patient import sample_patient
from lib.phantom.truth import level_mask


def _phantom(index: int = 1, seed: int = 3):
    """True level mask and spacing of one phantom patient (label-only path, no rendering)."""
    spec = sample_patient(cohort_config(patients=index + 1, seed=seed), index)
    return level_mask(spec), (spec.spacing_mm, spec.spacing_mm)


@pytest.fixture(scope="module")
def six_levels():
    for index in range(10):
        mask, spacing = _phantom(index)
        if set(np.unique(mask)) == set(range(8)):
            return mask, spacing
    raise AssertionError("no phantom patient with all six levels in the first ten")


def _largest_canal(mask):
    from scipy import ndimage

    blobs, _ = ndimage.label(mask == 7)
    return blobs == np.argmax(np.bincount(blobs.ravel())[1:]) + 1


def test_true_mask_is_kept_and_plausible(six_levels):
    mask, spacing = six_levels
    report = clean_levels(mask, spacing_mm=spacing)
    assert report.found == ["C2", "C3", "C4", "C5", "C6", "C7"] and report.missing == []
    assert report.is_cervical_spine, report.reason
    bodies = (mask >= 1) & (mask <= 6)
    np.testing.assert_array_equal(report.label_map[bodies], mask[bodies])
    np.testing.assert_array_equal(report.label_map == 7, _largest_canal(mask))
    assert report.centroid_px["C2"][1] < report.centroid_px["C3"][1] < report.centroid_px["C7"][1]
    assert report.area_mm2["C4"] == pytest.approx(report.area_px["C4"] * spacing[0] ** 2, rel=1e-3)


@pytest.mark.parametrize("relabel", [{3: 4, 4: 3}, {4: 3}, {2: 3, 3: 2, 5: 6, 6: 5}])
def test_swapped_or_duplicated_levels_are_reassigned_by_order(six_levels, relabel):
    mask, spacing = six_levels
    broken = mask.copy()
    for old, new in relabel.items():
        broken[mask == old] = new
    report = clean_levels(broken, spacing_mm=spacing)
    bodies = (mask >= 1) & (mask <= 6)
    np.testing.assert_array_equal(report.label_map[bodies], mask[bodies])
    assert report.found == ["C2", "C3", "C4", "C5", "C6", "C7"] and report.c2_in_view
    renamed = [w for w in report.warnings if w.startswith("levels renumbered counting from C2")]
    assert len(renamed) == 1
    for old, new in relabel.items():  # the body the model called `new` is named `old` by the count
        assert f"{VERTEBRAE[new - 1]}->{VERTEBRAE[old - 1]}" in renamed[0], renamed


def test_missing_c7_is_reported_not_invented(six_levels):
    mask, spacing = six_levels
    no_c7 = np.where(mask == 6, 0, mask).astype(np.uint8)
    report = clean_levels(no_c7, spacing_mm=spacing)
    assert report.missing == ["C7"] and 6 not in report.label_map
    assert "C7 not found (hidden by shoulders?)" in report.warnings
    status = segment_status(report.found)
    assert status["C6/7"] == {"evaluable": False, "reason": "C7 not found"}
    assert all(status[s]["evaluable"] for s in ("C2/3", "C3/4", "C4/5", "C5/6"))


def test_specks_and_stray_blobs_are_removed(six_levels):
    mask, spacing = six_levels
    noisy = mask.copy()
    noisy[5:9, 5:9] = 3  # a speck of "C4" far from the spine
    noisy[-30:-20, -30:-20] = 7  # a stray canal blob
    noisy[np.nonzero(mask == 4)[0][0] - 1, np.nonzero(mask == 4)[1][0]] = 2  # one "C3" pixel stuck to C5
    report = clean_levels(noisy, spacing_mm=spacing)
    assert report.label_map[5:9, 5:9].max() == 0 and report.label_map[-30:-20, -30:-20].max() == 0
    assert report.found == ["C2", "C3", "C4", "C5", "C6", "C7"]
    assert not any(w.startswith(("levels re-ordered", "levels renumbered")) for w in report.warnings)


def test_probabilities_pick_the_supported_blob(six_levels):
    mask, spacing = six_levels
    ys, xs = np.nonzero(mask == 2)
    row, col = int(ys.mean()), int(xs.mean())
    decoy_box = (slice(row - 70, row + 70), slice(max(col - 330, 0), max(col - 330, 0) + 170))
    assert mask[decoy_box].max() == 0  # in front of the spine, level with C3
    decoy = mask.copy()
    decoy[decoy_box] = 2  # a "C3" blob bigger than the real C3, beside it
    probs = np.zeros((8,) + mask.shape, dtype=np.float32)
    probs[2][mask == 2] = 0.95
    probs[2][decoy_box] = 0.2
    by_area = clean_levels(decoy, spacing_mm=spacing)
    assert by_area.found == ["C2", "C3", "C4", "C5", "C6", "C7"]  # one C3 kept either way, never two
    assert "two blobs at one level: the less supported one was removed" in by_area.warnings
    by_support = clean_levels(decoy, probabilities=probs, spacing_mm=spacing)
    np.testing.assert_array_equal(by_support.label_map == 2, mask == 2)


@pytest.mark.parametrize(
    "name, build, reason",
    [
        ("empty", lambda m: np.zeros_like(m), "no cervical spine levels found"),
        ("noise", lambda m: np.random.default_rng(0).integers(0, 8, m.shape).astype(np.uint8), "no cervical spine"),
        ("sideways", lambda m: np.ascontiguousarray(m.T), "not stacked vertically"),
        ("ap_like", lambda m: _wide_bodies(m.shape), "wider than tall"),
        ("zigzag", lambda m: _zigzag(m), "do not form a column"),
    ],
)
def test_not_a_cervical_spine(six_levels, name, build, reason):
    mask, spacing = six_levels
    report = clean_levels(build(mask), spacing_mm=spacing)
    assert not report.is_cervical_spine
    assert reason in report.reason, report.reason


def _zigzag(mask):
    """C4 and C6 moved forward by one body depth: blobs of the right size and spacing that form no column."""
    out = mask.copy()
    for level_id in (3, 5):
        cols = np.nonzero((mask == level_id).any(axis=0))[0]
        moved = np.roll(mask == level_id, -int(cols[-1] - cols[0]), axis=1)
        out[mask == level_id] = 0
        out[moved] = level_id
    return out


def _wide_bodies(shape):
    """Six bodies three times wider than tall, stacked: what an AP view would give."""
    out = np.zeros(shape, dtype=np.uint8)
    for i in range(6):
        top = 100 + 130 * i
        out[top : top + 90, 200:470] = i + 1
    return out


def test_implausible_size_for_the_spacing(six_levels):
    mask, _ = six_levels
    report = clean_levels(mask, spacing_mm=(1.0, 1.0))  # bodies would be about 110 mm deep
    assert not report.is_cervical_spine and "body depth" in report.reason


def test_bad_inputs_name_the_value():
    with pytest.raises(BadInputError, match="2D"):
        clean_levels(np.zeros((4, 4, 4), dtype=np.uint8))
    with pytest.raises(BadInputError, match="0-7"):
        clean_levels(np.full((4, 4), 9, dtype=np.uint8))
    with pytest.raises(BadInputError, match=r"\[8, 4, 4\]"):
        clean_levels(np.zeros((4, 4), dtype=np.uint8), probabilities=np.zeros((7, 4, 4)))
    with pytest.raises(BadInputError, match="spacing"):
        clean_levels(np.zeros((4, 4), dtype=np.uint8), spacing_mm=(0.0, 0.1))


def test_segment_status_needs_both_bodies():
    status = segment_status(["C3", "C4", "C6"])
    assert status["C3/4"]["evaluable"] and status["C3/4"]["reason"] == "both bodies found"
    assert status["C2/3"] == {"evaluable": False, "reason": "C2 not found"}
    assert status["C4/5"]["reason"] == "C5 not found" and status["C5/6"]["reason"] == "C5 not found"
    assert status["C6/7"] == {"evaluable": False, "reason": "C7 not found"}


def test_multilabel_dice_per_label_and_mean():
    a = np.zeros((10, 10), dtype=np.uint8)
    b = np.zeros_like(a)
    a[0:4, 0:5] = 1  # 20 px
    b[0:4, 0:4] = 1  # 16 px, all inside a's C2
    a[6:8, 6:8] = 7
    b[6:8, 6:8] = 7
    b[9, 9] = 3
    dice = multilabel_dice(a, b)
    assert dice["C2"] == pytest.approx(2 * 16 / 36)
    assert dice["spinal_canal"] == 1.0 and dice["C4"] == 0.0 and dice["C5"] is None
    assert dice["mean"] == pytest.approx(np.mean([2 * 16 / 36, 1.0, 0.0]))
    assert multilabel_dice(np.zeros((2, 2)), np.zeros((2, 2)))["mean"] is None
    with pytest.raises(BadInputError, match="shape"):
        multilabel_dice(a, b[:5])


def test_a_body_split_between_two_ids_is_one_body(six_levels):
    # The network painted the lower third of C5 as C6: still one body, labelled C5, and the spine stays plausible.
    mask, spacing = six_levels
    broken = mask.copy()
    rows = np.nonzero((mask == 4).any(axis=1))[0]
    lower = rows[len(rows) * 2 // 3]
    broken[lower:][mask[lower:] == 4] = 5
    report = clean_levels(broken, spacing_mm=spacing)
    assert report.is_cervical_spine, report.reason
    bodies = (mask >= 1) & (mask <= 6)
    np.testing.assert_array_equal(report.label_map[bodies], mask[bodies])


def test_consecutive_bodies_with_a_skipped_id_are_counted_from_c2(six_levels):
    # C6 labelled C7 and C7 hidden: the five bodies are one pitch apart, so the fifth is C6, not C7.
    mask, spacing = six_levels
    broken = np.where(mask == 6, 0, mask)
    broken[mask == 5] = 6
    report = clean_levels(broken, spacing_mm=spacing)
    assert report.found == ["C2", "C3", "C4", "C5", "C6"] and report.missing == ["C7"]
    np.testing.assert_array_equal(report.label_map == 5, mask == 5)


def test_dens_cut_off_from_c2_is_joined_to_it(six_levels):
    # The network left a background line through C2 (dens above, body below) and called C2's body C3 at its
    # lower edge: one C2, and the levels below keep their ids.
    mask, spacing = six_levels
    broken = mask.copy()
    rows = np.nonzero((mask == 1).any(axis=1))[0]
    cut = rows[len(rows) // 3]
    broken[cut : cut + 3][mask[cut : cut + 3] == 1] = 0
    report = clean_levels(broken, spacing_mm=spacing)
    assert report.found == ["C2", "C3", "C4", "C5", "C6", "C7"], report.warnings
    assert (report.label_map[:cut][mask[:cut] == 1] == 1).all()
    np.testing.assert_array_equal(report.label_map == 3, mask == 3)


def test_a_last_body_overlapping_the_one_above_is_left_out_not_the_film(six_levels):
    # Under the shoulders the network paints a glimpse of C6's lower half and C7 as one more "C7" blob whose
    # centre is well under a pitch below C6's: C2-C6 are kept, C7 is missing, and the film is not refused for it.
    from scipy import ndimage

    mask, spacing = six_levels
    broken = np.where(mask == 6, 0, mask).astype(np.uint8)
    c6 = mask == 5
    height = int(c6.any(axis=1).sum())
    shifted = np.roll(c6, int(0.4 * height), axis=0)  # C6's shape, 0.4 of a body lower
    broken[shifted & ~ndimage.binary_dilation(c6, iterations=3) & (broken == 0)] = 6  # apart from C6 by a gap
    report = clean_levels(broken, spacing_mm=spacing)
    assert report.is_cervical_spine, report.reason
    assert report.found == ["C2", "C3", "C4", "C5", "C6"] and report.missing == ["C7"]
    assert any(w.startswith("C7 left out: its centre lies") for w in report.warnings), report.warnings
    assert 6 not in report.label_map


def test_a_blob_above_c2_does_not_hide_it(six_levels):
    # The skull base painted as one more body above C2 (here a C3-sized blob the network called C6): the blob is
    # left out by the model's ids, and C2, still the tallest body at the top of what remains, is counted from.
    mask, spacing = six_levels
    broken = mask.copy()
    c2_top = int(np.nonzero((mask == 1).any(axis=1))[0][0])
    c3_rows = np.nonzero((mask == 2).any(axis=1))[0]
    lift = int(c3_rows.mean()) - (c2_top - len(c3_rows))  # its centre one C3 height above C2's top
    broken[np.roll(mask == 2, -lift, axis=0)] = 5
    report = clean_levels(broken, spacing_mm=spacing)
    assert report.c2_in_view, report.warnings
    assert report.found == ["C2", "C3", "C4", "C5", "C6", "C7"], report.warnings
    bodies = (mask >= 1) & (mask <= 6)
    np.testing.assert_array_equal(report.label_map[bodies], mask[bodies])


def test_a_dens_tip_smaller_than_a_speck_is_joined_to_c2(six_levels):
    # A background line cuts the tip of the dens from C2: the tip alone is under the speck size, yet it is part of
    # C2 and stays in its outline.
    mask, spacing = six_levels
    speck_px = MIN_BODY_AREA_MM2 / (spacing[0] * spacing[1])
    area_by_row = np.cumsum((mask == 1).sum(axis=1))
    cut = int(np.searchsorted(area_by_row, 0.5 * speck_px))
    broken = mask.copy()
    broken[cut : cut + 3][mask[cut : cut + 3] == 1] = 0
    tip = (np.arange(mask.shape[0])[:, None] < cut) & (mask == 1)
    assert 0.25 * speck_px < tip.sum() < speck_px
    report = clean_levels(broken, spacing_mm=spacing)
    assert (report.label_map[tip] == 1).all() and report.c2_in_view


def _c6_painted_under_c5(mask):
    """C6 painted 0.6 of a pitch higher, over C5's lower part, C7 left in place: the lowest bodies then sit
    unevenly, as a retrained network painted them under the shoulders of a film-phantom test film."""
    from scipy import ndimage

    rows = {lv: np.nonzero(mask == lv)[0].mean() for lv in (4, 5)}
    c6 = np.roll(mask == 5, -int(0.6 * (rows[5] - rows[4])), axis=0)
    out = np.where(mask == 5, 0, mask).astype(np.uint8)
    out[ndimage.binary_dilation(c6, iterations=3) & (out == 4)] = 0  # C5 keeps its upper part, apart by a gap
    out[c6] = 5
    return out


def test_uneven_lowest_bodies_below_a_recognised_c2_are_left_out_not_the_film(six_levels):
    mask, spacing = six_levels
    report = clean_levels(_c6_painted_under_c5(mask), spacing_mm=spacing)
    assert report.is_cervical_spine, report.reason
    assert report.c2_in_view and report.found == ["C2", "C3", "C4", "C5"] and report.missing == ["C6", "C7"]
    assert report.warnings[0].startswith("C6, C7 left out: with them bodies are not evenly stacked"), report.warnings
    assert not np.isin(report.label_map, [5, 6]).any()
    np.testing.assert_array_equal(report.label_map == 3, mask == 3)  # C4 untouched


def test_without_a_recognised_c2_uneven_bodies_still_refuse_the_film(six_levels):
    # Only a stack counted from C2 is trimmed: without C2 nothing anchors which end of the stack is the shoulders'.
    mask, spacing = six_levels
    broken = _c6_painted_under_c5(mask)
    broken[broken == 1] = 0
    report = clean_levels(broken, spacing_mm=spacing)
    assert not report.c2_in_view
    assert not report.is_cervical_spine and "not evenly stacked" in report.reason, report.reason


def test_a_tall_top_body_at_the_films_edge_is_not_counted_as_c2(six_levels):
    # A field starting below C2, and C3 painted up to the film's edge over what lies past the field, and called C2:
    # tall enough to pass for C2 by its height, but its height is not its own. The names stay the stack's own
    # (C3-C7), not one level too high.
    mask, spacing = six_levels
    c3_rows = np.nonzero((mask == 2).any(axis=1))[0]
    height = len(c3_rows)
    film = mask[c3_rows[0] - height :].copy()  # one C3 height of field above C3
    film[film == 1] = 0
    c3 = film == 2
    for lift in range(1, height + 1):
        c3 |= np.roll(film == 2, -lift, axis=0) & (np.arange(len(film)) < height)[:, None]
    film[c3] = 1
    report = clean_levels(film, spacing_mm=spacing)
    assert report.is_cervical_spine, report.reason
    assert not report.c2_in_view, report.warnings
    assert report.found == ["C3", "C4", "C5", "C6", "C7"], report.warnings
    assert report.label_map[height + 5, np.nonzero(c3[height + 5])[0][0]] == 2
