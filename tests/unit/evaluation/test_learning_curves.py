"""Learning curves: films to reach a Dice, aggregation over seeds, and the figure."""

import pytest

from lib.evaluation.learning_curves import aggregate_curves, films_needed, films_to_reach, plot_learning_curves


def test_films_to_reach_is_the_first_measured_point_at_or_above_the_threshold():
    curve = [(0, 0.5), (8, 0.89), (16, 0.90), (24, 0.97)]
    assert films_to_reach(curve, 0.90) == 16
    assert films_to_reach(curve, 0.5) == 0
    assert films_to_reach(curve, 0.98) is None


def test_films_to_reach_refuses_counts_that_do_not_increase():
    with pytest.raises(ValueError, match="must increase"):
        films_to_reach([(0, 0.5), (8, 0.9), (8, 0.95)], 0.9)


def test_aggregate_over_seeds_uses_the_shared_film_counts():
    arm = aggregate_curves([[(0, 0.5), (8, 0.8), (16, 0.9)], [(0, 0.6), (8, 0.7)]])
    assert arm == {"films": [0, 8], "mean": [0.55, 0.75], "min": [0.5, 0.7], "max": [0.6, 0.8], "runs": 2}
    with pytest.raises(ValueError, match="no learning curves"):
        aggregate_curves([])
    with pytest.raises(ValueError, match="share no film count"):
        aggregate_curves([[(0, 0.5)], [(8, 0.5)]])


def test_films_needed_reports_the_spread_and_the_runs_that_never_got_there():
    needed = films_needed([[(0, 0.5), (8, 0.92)], [(0, 0.5), (8, 0.8), (16, 0.95)], [(0, 0.5), (8, 0.6)]], 0.9)
    assert needed == {"threshold": 0.9, "per_run": [8, 16, None], "median": 12.0, "min": 8, "max": 16, "not_reached": 1}


def test_the_figure_is_written(tmp_path):
    arm = aggregate_curves([[(0, 0.5), (8, 0.8)], [(0, 0.6), (8, 0.9)]])
    path = tmp_path / "curve.png"
    plot_learning_curves({"random / shipped": arm}, path, "test", thresholds=(0.9,))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
