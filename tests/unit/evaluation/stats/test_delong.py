"""DeLong against a brute-force Mann-Whitney placement computation."""

import numpy as np
import pytest
from scipy import stats as sps

from lib.core.errors import BadInputError
from lib.evaluation.stats import auc_variance, delong_test


def _psi(x, y):
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _brute(y, scores):
    """AUCs and covariance from explicit m x n comparisons (DeLong 1988, eq. for V10/V01)."""
    y = np.asarray(y, bool)
    v10, v01, aucs = [], [], []
    for s in scores:
        pos, neg = s[y], s[~y]
        psi = np.array([[_psi(x, z) for z in neg] for x in pos])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    m, n = len(v10[0]), len(v01[0])
    cov = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    return np.array(aucs), np.atleast_2d(cov)


@pytest.mark.parametrize("seed", range(4))
def test_delong_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 80)
    a = np.round(y * 0.8 + rng.normal(size=80), 1)  # rounded: ties exercise the midranks
    b = np.round(y * 0.4 + 0.5 * a + rng.normal(size=80), 1)
    aucs, cov = _brute(y, [a, b])
    r = delong_test(y, a, b)
    assert r["auc_a"] == pytest.approx(aucs[0], abs=1e-9)
    assert r["auc_b"] == pytest.approx(aucs[1], abs=1e-9)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert r["variance"] == pytest.approx(var, abs=1e-9)
    z = (aucs[0] - aucs[1]) / np.sqrt(var)
    assert r["p_value"] == pytest.approx(2 * sps.norm.sf(abs(z)), abs=1e-9)


def test_single_auc_variance_equals_brute_force():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 60)
    s = np.round(y + rng.normal(size=60), 1)
    aucs, cov = _brute(y, [s])
    r = auc_variance(y, s)
    assert r["auc"] == pytest.approx(aucs[0], abs=1e-9)
    assert r["variance"] == pytest.approx(cov[0, 0], abs=1e-9)
    assert r["ci"][0] < r["auc"] < r["ci"][1]


def test_identical_scores_have_undefined_p_and_one_class_raises():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.9, 0.4, 0.6])
    assert delong_test(y, s, s)["p_value"] is None
    with pytest.raises(BadInputError, match="one class"):
        delong_test([1, 1], [0.1, 0.2], [0.3, 0.4])
