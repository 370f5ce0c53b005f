"""Known-answer tests of lib.evaluation.stats point estimates, kappa, McNemar, Wilson and threshold selection."""

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
from statsmodels.stats.proportion import proportion_confint

from lib.core.errors import BadInputError
from lib.evaluation.stats import (
    auc,
    binary_metrics,
    brier_score,
    cohen_kappa,
    confusion_counts,
    landis_koch_band,
    mcnemar,
    mcnemar_from_counts,
    reliability_bins,
    select_threshold,
    wilson_interval,
)
from lib.evaluation.stats.metrics import roc_curve_points


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_f1_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 120)
    s = np.round(rng.random(120), 2)  # rounding makes ties, which midranks must handle
    assert auc(y, s)["value"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    pred = (s >= 0.5).astype(int)
    assert binary_metrics(y, pred)["f1"]["value"] == pytest.approx(f1_score(y, pred), abs=1e-12)


def test_auc_known_answer_with_a_tie():
    # Positives 0.35, 0.8, 0.9 against negatives 0.1, 0.35, 0.4: 1.5 + 3 + 3 of 9 pairs (the tie counts 1/2).
    y = [0, 0, 1, 1, 0, 1]
    s = [0.1, 0.4, 0.35, 0.8, 0.35, 0.9]
    assert auc(y, s)["value"] == pytest.approx(7.5 / 9, abs=1e-15)


def test_roc_curve_points_known_answer():
    roc = roc_curve_points([0, 1, 1, 0], [0.1, 0.4, 0.4, 0.3])
    assert roc == {"fpr": [0.0, 0.0, 0.5, 1.0], "tpr": [0.0, 1.0, 1.0, 1.0], "thresholds": [None, 0.4, 0.3, 0.1]}
    with pytest.raises(BadInputError, match="both positive and negative"):
        roc_curve_points([1, 1], [0.2, 0.4])


def test_binary_metrics_counts():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = np.array([1, 1, 0, 0, 0, 1, 0, 1])
    assert confusion_counts(y, p) == {"tp": 3, "fp": 1, "tn": 3, "fn": 1}
    m = binary_metrics(y, p)
    assert m["accuracy"]["value"] == 6 / 8
    assert m["sensitivity"]["value"] == 3 / 4
    assert m["specificity"]["value"] == 3 / 4
    assert m["ppv"]["value"] == 3 / 4 and m["npv"]["value"] == 3 / 4


def test_single_class_names_undefined_metrics():
    m = binary_metrics([0, 0, 0], [0, 1, 0])
    assert m["sensitivity"] == {"value": None, "undefined": "no positive segments"}
    assert m["specificity"]["value"] == pytest.approx(2 / 3)
    assert auc([0, 0], [0.1, 0.2], unit="patients") == {"value": None, "undefined": "no positive patients"}
    assert auc([1, 1], [0.1, 0.2])["undefined"] == "no negative segments"


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (284, 300), (1, 1)])
def test_wilson_matches_statsmodels(k, n):
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson_interval(k, n) == pytest.approx([lo, hi], abs=1e-12)
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize(
    "k,n,lo,hi",
    # Newcombe (1998), Stat Med 17:857, Table I, method 3 (score interval without continuity correction).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_known_answers(k, n, lo, hi):
    assert wilson_interval(k, n) == pytest.approx([lo, hi], abs=5e-5)


def test_wilson_confidence_sets_the_width():
    z = {0.90: 1.6448536269514722, 0.99: 2.5758293035489004}
    for confidence, crit in z.items():
        p, n = 0.3, 10  # closed form of the Wilson interval at 3 of 10
        centre = (p + crit**2 / (2 * n)) / (1 + crit**2 / n)
        half = crit * math.sqrt(p * (1 - p) / n + crit**2 / (4 * n * n)) / (1 + crit**2 / n)
        assert wilson_interval(3, 10, confidence) == pytest.approx([centre - half, centre + half], abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", range(3))
def test_kappa_matches_sklearn_and_statsmodels(weights, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 4, 200))
    k = cohen_kappa(a, b, weights=weights, categories=range(4))
    assert k["value"] == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)
    table = np.zeros((4, 4))
    np.add.at(table, (a, b), 1)
    ref = sm_kappa(table, wt=weights or None) if weights else sm_kappa(table)
    assert k["se"] == pytest.approx(ref.std_kappa, rel=1e-9)


def test_paper_kappa_from_a_2x2_table():
    # 300 segments, 284 correct (94.67%), about half positive: the paper's internal-test kappa 0.893.
    y = np.array([1] * 150 + [0] * 150)
    p = np.array([1] * 142 + [0] * 8 + [1] * 8 + [0] * 142)
    assert binary_metrics(y, p)["accuracy"]["value"] == pytest.approx(0.9467, abs=5e-5)
    k = cohen_kappa(y, p)
    assert round(k["value"], 3) == 0.893
    assert k["band"] == "almost perfect"
    assert k["ci"][0] < 0.893 < k["ci"][1]


def test_kappa_undefined_when_single_category():
    assert cohen_kappa([1, 1, 1], [1, 1, 1])["undefined"].startswith("chance agreement")
    with pytest.raises(BadInputError, match="rating 5"):
        cohen_kappa([0, 5], [0, 1])


@pytest.mark.parametrize(
    "kappa,band",
    [
        (-0.1, "poor"),
        (0.0, "slight"),
        (0.2, "slight"),
        (0.378, "fair"),
        (0.422, "moderate"),
        (0.7, "substantial"),
        (0.8, "substantial"),
        (0.893, "almost perfect"),
        (None, None),
    ],
)
def test_landis_koch_band(kappa, band):
    assert landis_koch_band(kappa) == band


@pytest.mark.parametrize("b,c", [(0, 0), (3, 9), (12, 12), (30, 12), (20, 40), (13, 13)])
def test_mcnemar_matches_statsmodels(b, c):
    ours = mcnemar_from_counts(b, c)
    exact = b + c < 25
    ref = sm_mcnemar([[10, b], [c, 10]], exact=exact, correction=True)
    assert ours["method"] == ("exact binomial" if exact else "chi-square with continuity correction")
    assert ours["p_value"] == pytest.approx(ref.pvalue, abs=1e-12)
    assert ours["statistic"] == pytest.approx(ref.statistic, abs=1e-12)


def test_mcnemar_known_answers():
    # Exact: 2 * P(X <= 3), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66 + 220) / 4096.
    exact = mcnemar_from_counts(3, 9)
    assert exact["p_value"] == 2 * 299 / 4096 and exact["statistic"] == 3
    assert mcnemar_from_counts(12, 12)["p_value"] == 1.0 and mcnemar_from_counts(0, 0)["p_value"] == 1.0
    # 42 discordant: (|30 - 12| - 1)^2 / 42 on chi-square(1), whose survival function is erfc(sqrt(x / 2)).
    chi = mcnemar_from_counts(30, 12)
    assert chi["statistic"] == pytest.approx(289 / 42, abs=1e-12)
    assert chi["p_value"] == pytest.approx(math.erfc(math.sqrt(289 / 42 / 2)), abs=1e-12)
    assert mcnemar_from_counts(13, 13)["statistic"] == pytest.approx(1 / 26, abs=1e-12)


def test_mcnemar_from_paired_correctness():
    a = np.array([1, 1, 1, 0, 1, 0], bool)
    b = np.array([0, 0, 1, 0, 1, 1], bool)
    r = mcnemar(a, b)
    assert (r["b"], r["c"], r["n"]) == (2, 1, 6)


def test_brier_and_reliability():
    y = np.array([0, 1, 1, 0])
    s = np.array([0.0, 1.0, 0.95, 0.15])
    assert brier_score(y, s) == pytest.approx((0.05**2 + 0.15**2) / 4)
    bins = reliability_bins(y, s)
    assert sum(b["n"] for b in bins) == 4
    assert bins[-1]["observed_rate"] == 1.0 and bins[-1]["n"] == 2  # 1.0 falls in the last bin
    # A test set may hold one class only.
    assert brier_score([0, 0], [0.1, 0.3]) == pytest.approx((0.01 + 0.09) / 2, abs=1e-15)
    assert brier_score([1, 1], [0.1, 0.3]) == pytest.approx((0.81 + 0.49) / 2, abs=1e-15)
    # A probability on a bin edge belongs to the bin above it: [0.1, 0.2) here.
    assert [(b["lo"], b["n"]) for b in reliability_bins([0, 1], [0.1, 0.15])] == [(0.1, 2)]


def test_select_threshold_youden_and_sensitivity():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.8, 0.9])
    yj = select_threshold(y, s, "youden")
    assert yj["threshold"] == 0.7 and yj["sensitivity"] == 0.75 and yj["specificity"] == 1.0
    st = select_threshold(y, s, "sensitivity", target_sensitivity=1.0)
    assert st["threshold"] == 0.35 and st["sensitivity"] == 1.0
    with pytest.raises(BadInputError, match="both positive and negative"):
        select_threshold([1, 1], [0.2, 0.3])
    with pytest.raises(BadInputError, match="'median'"):
        select_threshold(y, s, "median")
