"""The ceiling: its AUC, its ridge logistic fit (intercept penalised too) and the figures it reports."""

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit, logit

from lib.anatomy.names import SEGMENTS
from lib.phantom.ceiling import FEATURES, RIDGE, auc, ceiling, design_matrix, fit_logistic


def _standardised(x):
    return np.column_stack([np.ones(len(x)), (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)])


def test_auc_counts_ties_as_one_half():
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.9])) == pytest.approx(0.75)
    assert auc(np.array([1, 1, 1]), np.array([0.1, 0.2, 0.3])) is None
    assert auc(np.array([0, 0]), np.array([0.1, 0.2])) is None


@pytest.mark.parametrize("l2", [RIDGE, 5.0])
def test_fit_zeroes_the_gradient_of_the_penalised_objective(l2):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * [1.0, 4.0, 0.2] + [0.0, 10.0, -3.0]
    y = (rng.random(200) < expit(-2.0 + x[:, 0] - 0.2 * (x[:, 1] - 10))).astype(int)
    w, mean, sd = fit_logistic(x, y, l2=l2)
    assert np.allclose(mean, x.mean(axis=0)) and np.allclose(sd, x.std(axis=0) + 1e-9)
    z = _standardised(x)
    residual = z.T @ (expit(z @ w) - y)
    # Gradient of sum(log-loss) + l2 / 2 * |w|^2, intercept w[0] included.
    assert np.abs(residual + l2 * w).max() < 1e-6
    # An unpenalised intercept would give residual[0] == 0 instead; here it is l2 * |w[0]| away from it.
    assert abs(residual[0]) > 0.5 * l2 * abs(w[0]) > 0


def test_intercept_only_fit_solves_the_penalised_equation():
    # Constant features standardise to 0, leaving n * (sigmoid(b) - mean(y)) + l2 * b = 0 for the intercept b.
    x, y, l2 = np.ones((20, 2)), np.array([1] * 5 + [0] * 15), 4.0
    w, _, _ = fit_logistic(x, y, l2=l2)
    expected = brentq(lambda b: len(y) * (expit(b) - y.mean()) + l2 * b, -10, 10, xtol=1e-14)
    assert w[0] == pytest.approx(expected, abs=1e-9)
    assert abs(w[0] - logit(y.mean())) > 0.1  # the unpenalised answer
    assert np.allclose(w[1:], 0, atol=1e-12)


def _synthetic_records(n=60, seed=4):
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        split = "train" if i < 40 else ("validation" if i < 55 else "test_external")
        segments = {}
        for j, segment in enumerate(SEGMENTS):
            features = {f: float(v) for f, v in zip(FEATURES, rng.normal(size=len(FEATURES)))}
            score = 1.5 * features["visible_narrowing_mm"] - features["canal_at_disc_mm"] + 0.3 * j - 1.0
            compression = int(rng.random() < expit(score) and split != "test_external")
            evaluable = bool(rng.random() > 0.1)
            segments[segment] = {"evaluable": evaluable, "visible_features": features, "compression": compression}
        records.append({"split": split, "segments": segments})
    return records


def test_ceiling_figures_on_synthetic_records():
    records = _synthetic_records()
    result = ceiling(records)
    assert result["features"] == list(FEATURES) + [f"is_{s}" for s in SEGMENTS]
    assert result["n_segments"] == {"test_external": 21, "train": 183, "validation": 68}
    assert result["prevalence"]["train"] == pytest.approx(93 / 183)
    # The figures of the former hand-written Newton fit and Mann-Whitney AUC.
    assert result["auc"]["train"] == pytest.approx(0.8185185185185185, abs=1e-9)
    assert result["auc"]["validation"] == pytest.approx(0.875, abs=1e-9)
    assert result["auc"]["test_external"] is None  # one class only
    x, y = design_matrix(records, "train")
    assert x.shape == (183, len(FEATURES) + len(SEGMENTS)) and set(np.unique(y)) == {0, 1}


def test_ceiling_needs_both_classes_in_train():
    records = _synthetic_records()
    for rec in records:
        for seg in rec["segments"].values():
            seg["compression"] = 0
    result = ceiling(records)
    assert "note" in result and result["auc"] == {}
