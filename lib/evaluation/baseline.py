"""The measurement-only baseline per disc segment: a published rule and a logistic model on the measurements.

(a) Rule: compressed when the narrower of the segment's two canal diameters is below 13 mm (relative stenosis,
Pavlov 1987; film mm, clinical.md) or the smaller Torg-Pavlov ratio is below 0.8. Its score
``max((13 - canal_mm) / 13, (0.8 - ratio) / 0.8)`` is positive exactly when the rule calls the segment
compressed, so one number serves both the binary call and the AUC.
(b) Logistic regression on the segment's measurements (``FEATURES``): scikit-learn's L2-penalised fit (Newton,
intercept not penalised) on standardised features; missing values take the training mean.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from lib.anatomy.measurements import CANAL_RELATIVE_STENOSIS_MM, TORG_PAVLOV_STENOSIS
from lib.anatomy.names import segment_bodies
from lib.core.errors import BadInputError

FEATURES = (
    "canal_min_mm",
    "canal_upper_mm",
    "canal_lower_mm",
    "torg_pavlov_min",
    "disc_height_anterior_mm",
    "disc_height_middle_mm",
    "disc_height_posterior_mm",
    "listhesis_pct",
    "segmental_angle_deg",
)


def _value(row: Optional[Mapping], key: str) -> float:
    value = None if row is None else row.get(key)
    return np.nan if value is None else float(value)


def segment_features(level_rows: Mapping[str, Mapping], disc_row: Optional[Mapping], segment: str) -> dict:
    """``{feature: float or NaN}`` for one segment from ``lib.anatomy.measurements`` level rows and its disc row."""
    upper, lower = (level_rows.get(lv) for lv in segment_bodies(segment))
    canals = [_value(upper, "canal_diameter_mm"), _value(lower, "canal_diameter_mm")]
    ratios = [_value(upper, "torg_pavlov_ratio"), _value(lower, "torg_pavlov_ratio")]
    out = {
        "canal_min_mm": np.nan if np.isnan(canals).all() else float(np.nanmin(canals)),
        "canal_upper_mm": canals[0],
        "canal_lower_mm": canals[1],
        "torg_pavlov_min": np.nan if np.isnan(ratios).all() else float(np.nanmin(ratios)),
    }
    out.update({k: _value(disc_row, k) for k in FEATURES[4:]})
    return out


def features_from_pipeline(result: Mapping) -> dict:
    """``{segment: features}`` from a pipeline result JSON; segments without measurements are left out."""
    out = {}
    for segment, entry in result.get("segments", {}).items():
        measured = entry.get("measurements")
        if measured:
            out[segment] = segment_features(measured.get("levels") or {}, measured.get("disc"), segment)
    return out


def feature_matrix(rows: Sequence[Mapping]) -> np.ndarray:
    """float64 ``[N, len(FEATURES)]`` from feature dicts, NaN where a value is missing."""
    values = [[float(r.get(f, np.nan)) for f in FEATURES] for r in rows]
    return np.array(values, dtype=np.float64).reshape(-1, len(FEATURES))


def rule_score(features: Mapping) -> Optional[float]:
    """The rule's score (positive = compressed by the rule); None when neither canal nor ratio is known."""
    terms = []
    if not np.isnan(features.get("canal_min_mm", np.nan)):
        terms.append((CANAL_RELATIVE_STENOSIS_MM - features["canal_min_mm"]) / CANAL_RELATIVE_STENOSIS_MM)
    if not np.isnan(features.get("torg_pavlov_min", np.nan)):
        terms.append((TORG_PAVLOV_STENOSIS - features["torg_pavlov_min"]) / TORG_PAVLOV_STENOSIS)
    return max(terms) if terms else None


def rule_call(features: Mapping) -> Optional[int]:
    """1 when canal < 13 mm or Torg-Pavlov ratio < 0.8, else 0; None when neither is known."""
    score = rule_score(features)
    return None if score is None else int(score > 0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, features: Sequence[str] = FEATURES) -> dict:
    """Penalised logistic regression: minimises ``sum(log-loss) + l2 / 2 * |w|^2`` on standardised features.

    X: float [N, F] (NaN = missing, imputed with the column mean); y: 0/1 [N]; l2 > 0. Returns a JSON-ready model
    dict (``weights`` and ``bias`` on the standardised scale, with the ``mean`` and ``std`` used).
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise BadInputError(f"X must be [N, F] and y [N] with N > 0; got {X.shape} and {y.shape}")
    if not np.isin(y, (0, 1)).all() or len(set(y.tolist())) < 2:
        raise BadInputError("y must hold 0 and 1, both present")
    if not l2 > 0:
        raise BadInputError(f"l2 penalty {l2} must be positive")
    known = ~np.isnan(X)
    mean = np.where(known, X, 0.0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)  # 0 for an all-missing column
    Z = np.where(np.isnan(X), mean, X) - mean
    std = Z.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # a constant column stays at 0 and gets weight 0
    # C = 1 / l2 gives sklearn's objective C * sum(log-loss) + |w|^2 / 2 the same minimum; the intercept is free.
    fit = LogisticRegression(C=1.0 / l2, solver="newton-cholesky", tol=1e-10, max_iter=100).fit(Z / std, y)
    return {
        "features": list(features),
        "weights": fit.coef_[0].tolist(),
        "bias": float(fit.intercept_[0]),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "l2": float(l2),
    }


def predict_logistic(model: Mapping, X: np.ndarray) -> np.ndarray:
    """Probabilities float64 [N] for X float [N, F] (NaN imputed with the training mean)."""
    X = np.asarray(X, dtype=np.float64)
    mean, std = np.asarray(model["mean"]), np.asarray(model["std"])
    if X.ndim != 2 or X.shape[1] != len(mean):
        raise BadInputError(f"X must be [N, {len(mean)}]; got {X.shape}")
    Z = (np.where(np.isnan(X), mean, X) - mean) / std
    return _sigmoid(Z @ np.asarray(model["weights"]) + model["bias"])
