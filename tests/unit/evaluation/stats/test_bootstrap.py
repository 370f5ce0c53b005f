"""The vectorised cluster bootstrap: replicate values equal a direct computation, and CIs cover at nominal rate."""

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from lib.evaluation.stats import bootstrap_metrics, patient_weights, percentile_ci


def test_weights_are_resamples_of_patients():
    w = patient_weights(7, 50, seed=3)
    assert w.shape == (50, 7) and (w.sum(axis=1) == 7).all()
    assert np.array_equal(w, patient_weights(7, 50, seed=3))
    assert not np.array_equal(w, patient_weights(7, 50, seed=4))


def test_replicates_equal_direct_computation_on_expanded_resample():
    rng = np.random.default_rng(0)
    n_pat, per = 12, 5
    pid = np.repeat(np.arange(n_pat), per)
    y = rng.integers(0, 2, pid.size)
    s = np.round(rng.random(pid.size), 1)
    pred = (s >= 0.5).astype(int)
    w = patient_weights(n_pat, 20, seed=1)
    reps = bootstrap_metrics(y, pred, pid, w, scores=s)
    for r in range(20):
        rows = np.concatenate([np.flatnonzero(pid == p) for p in range(n_pat) for _ in range(w[r, p])])
        yy, ss, pp = y[rows], s[rows], pred[rows]
        if 0 < yy.sum() < yy.size:
            assert reps["auc"][r] == pytest.approx(roc_auc_score(yy, ss), abs=1e-12)
        assert reps["accuracy"][r] == pytest.approx(np.mean(yy == pp), abs=1e-12)
        assert reps["kappa"][r] == pytest.approx(cohen_kappa_score(yy, pp), abs=1e-12)


def test_undefined_replicates_are_nan_and_counted():
    reps = bootstrap_metrics([1, 0], [1, 0], [0, 1], np.array([[2, 0], [1, 1]]), scores=[0.9, 0.1])
    assert np.isnan(reps["specificity"][0]) and reps["specificity"][1] == 1.0
    ci = percentile_ci(reps["auc"])
    assert ci["replicates_undefined"] == 1 and ci["ci"] == [1.0, 1.0]
    assert percentile_ci(np.array([np.nan]))["ci"] is None


def test_cluster_bootstrap_auc_ci_covers_at_nominal_rate():
    # Binormal scores, unit variance, separation d: true AUC = Phi(d / sqrt(2)).
    d, n_pat, per, n_sets = 1.5, 40, 5, 200
    true_auc = sps.norm.cdf(d / np.sqrt(2))
    rng = np.random.default_rng(2024)
    pid = np.repeat(np.arange(n_pat), per)
    w = patient_weights(n_pat, 300, seed=11)
    hits = 0
    for _ in range(n_sets):
        y = rng.integers(0, 2, pid.size)
        s = rng.normal(size=pid.size) + d * y
        ci = percentile_ci(bootstrap_metrics(y, y, pid, w, scores=s)["auc"])["ci"]
        hits += ci[0] <= true_auc <= ci[1]
    assert 0.88 <= hits / n_sets <= 0.99
