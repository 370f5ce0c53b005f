"""Measurement-only baseline: the rule's score and call, features from measurements, and the logistic fit."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from lib.core.errors import BadInputError
from lib.evaluation.baseline import (
    FEATURES,
    feature_matrix,
    features_from_pipeline,
    fit_logistic,
    predict_logistic,
    rule_call,
    rule_score,
    segment_features,
)


def test_rule_calls_narrow_canal_or_low_ratio_and_its_score_agrees():
    wide = {"canal_min_mm": 15.0, "torg_pavlov_min": 0.95}
    narrow = {"canal_min_mm": 12.0, "torg_pavlov_min": 0.95}
    low_ratio = {"canal_min_mm": np.nan, "torg_pavlov_min": 0.7}
    assert rule_call(wide) == 0 and rule_call(narrow) == 1 and rule_call(low_ratio) == 1
    assert rule_score(narrow) == pytest.approx(1 / 13) and rule_score(wide) < 0
    assert rule_call({"canal_min_mm": np.nan, "torg_pavlov_min": np.nan}) is None


def test_segment_features_take_the_narrower_level_and_the_disc_row():
    levels = {
        "C5": {"canal_diameter_mm": 14.0, "torg_pavlov_ratio": 0.9},
        "C6": {"canal_diameter_mm": 12.5, "torg_pavlov_ratio": None},
    }
    disc = {"disc_height_middle_mm": 5.5, "listhesis_pct": 4.0, "segmental_angle_deg": 3.0}
    f = segment_features(levels, disc, "C5/6")
    assert f["canal_min_mm"] == 12.5 and f["torg_pavlov_min"] == 0.9 and f["disc_height_middle_mm"] == 5.5
    assert np.isnan(f["disc_height_anterior_mm"])
    X = feature_matrix([f])
    assert X.shape == (1, len(FEATURES)) and X[0, FEATURES.index("canal_upper_mm")] == 14.0


def test_features_from_a_pipeline_result_skip_unmeasured_segments():
    result = {
        "segments": {
            "C2/3": {"measurements": None},
            "C3/4": {"measurements": {"levels": {"C3": {"canal_diameter_mm": 16.0}}, "disc": None}},
        }
    }
    out = features_from_pipeline(result)
    assert list(out) == ["C3/4"] and out["C3/4"]["canal_min_mm"] == 16.0


def _cohort(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [2.0, 0.1, 5.0] + [14.0, 0.9, 0.0]
    logit = -1.5 * (X[:, 0] - 14.0) / 2.0 + 0.8 * (X[:, 2] / 5.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_logistic_fit_agrees_with_scikit_learn():
    X, y = _cohort()
    model = fit_logistic(X, y, l2=1.0, features=("a", "b", "c"))
    Z = (X - np.asarray(model["mean"])) / np.asarray(model["std"])
    reference = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(Z, y).predict_proba(Z)[:, 1]
    assert np.max(np.abs(predict_logistic(model, X) - reference)) < 1e-4


@pytest.mark.parametrize("l2", [0.1, 1.0, 10.0])
def test_logistic_fit_is_the_minimum_of_the_stated_objective(l2):
    # Gradient of sum(log-loss) + l2 / 2 * |w|^2 in the standardised weights, and of the unpenalised bias, is 0.
    X, y = _cohort(seed=2)
    model = fit_logistic(X, y, l2=l2, features=("a", "b", "c"))
    Z = (X - np.asarray(model["mean"])) / np.asarray(model["std"])
    residual = predict_logistic(model, X) - y
    assert np.max(np.abs(Z.T @ residual + l2 * np.asarray(model["weights"]))) < 1e-8
    assert abs(residual.sum()) < 1e-8
    with pytest.raises(BadInputError, match="must be positive"):
        fit_logistic(X, y, l2=0.0)


def test_logistic_fit_recovers_a_separable_relation():
    rng = np.random.default_rng(1)
    canal = rng.uniform(8, 20, size=200)
    y = (canal < 13).astype(int)
    X = np.column_stack([canal, rng.normal(size=200)])
    model = fit_logistic(X, y, l2=0.01, features=("canal", "noise"))
    p = predict_logistic(model, X)
    assert ((p > 0.5) == y.astype(bool)).mean() == 1.0
    assert model["weights"][0] < -5 and abs(model["weights"][1]) < abs(model["weights"][0]) / 10


def test_missing_values_take_the_training_mean_and_bad_targets_are_refused():
    X, y = _cohort(100)
    X[0, 1] = np.nan
    model = fit_logistic(X, y, features=("a", "b", "c"))
    filled = X[:1].copy()
    filled[0, 1] = model["mean"][1]
    assert predict_logistic(model, X[:1]) == pytest.approx(predict_logistic(model, filled))
    with pytest.raises(BadInputError, match="0 and 1"):
        fit_logistic(X, np.zeros(len(X)))
