"""The ceiling: how well the radiographically visible ground truth alone predicts the MRI label.

A logistic regression (scikit-learn, small ridge on the weights and the intercept alike) on the visible features
of the training split's segments, scored by scikit-learn's AUC on every split. Invisible causes (disc bulge,
flavum buckling) and MRI label noise keep it below 1.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from lib.anatomy.names import SEGMENTS

FEATURES = (
    "visible_narrowing_mm",
    "canal_at_disc_mm",
    "osteophyte_mm",
    "opll_mm",
    "listhesis_mm",
    "disc_height_loss_mm",
)
RIDGE = 1e-3


def design_matrix(records: List[dict], split: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """(X [n, k] float64, y [n] int) over evaluable segments of the records in ``split`` (None = all)."""
    rows, labels = [], []
    for rec in records:
        if split is not None and rec["split"] != split:
            continue
        for segment, seg in rec["segments"].items():
            if not seg["evaluable"]:
                continue
            onehot = [float(segment == s) for s in SEGMENTS]
            rows.append([seg["visible_features"][f] for f in FEATURES] + onehot)
            labels.append(seg["compression"])
    return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES) + len(SEGMENTS)), np.array(labels, dtype=int)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = RIDGE) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights [k+1], feature mean [k], feature sd [k]) on standardised features; weights[0] is the intercept.

    Minimises ``sum(log-loss) + l2 / 2 * |w|^2`` with the intercept penalised like the other weights.
    """
    mean, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.column_stack([np.ones(len(x)), (x - mean) / sd])
    # sklearn minimises C * sum(log-loss) + |w|^2 / 2 = C * (sum(log-loss) + l2 / 2 * |w|^2) for C = 1 / l2: same
    # minimum; fit_intercept=False with the constant column in z puts the intercept under the penalty.
    fit = LogisticRegression(C=1.0 / l2, fit_intercept=False, solver="newton-cholesky", tol=1e-12, max_iter=200)
    return fit.fit(z, y).coef_[0].copy(), mean, sd


def predict(model, x: np.ndarray) -> np.ndarray:
    w, mean, sd = model
    return 1.0 / (1.0 + np.exp(-np.clip(np.column_stack([np.ones(len(x)), (x - mean) / sd]) @ w, -30, 30)))


def auc(y: np.ndarray, score: np.ndarray) -> Optional[float]:
    """Area under the ROC curve (ties count one half); None without both classes."""
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, score))


def ceiling(records: List[dict]) -> Dict[str, object]:
    """``{"model": "...", "features": [...], "auc": {split: auc}, "n_segments": {split: n}, "prevalence": {...}}``."""
    x_train, y_train = design_matrix(records, "train")
    result: Dict[str, object] = {
        "model": "logistic regression on visible ground-truth features, fit on train",
        "features": list(FEATURES) + [f"is_{s}" for s in SEGMENTS],
        "auc": {},
        "n_segments": {},
        "prevalence": {},
    }
    if len(np.unique(y_train)) < 2:
        result["note"] = "no training split with both classes; ceiling not computed"
        return result
    model = fit_logistic(x_train, y_train)
    for split in sorted({r["split"] for r in records}):
        x, y = design_matrix(records, split)
        result["auc"][split] = auc(y, predict(model, x)) if len(y) else None
        result["n_segments"][split] = int(len(y))
        result["prevalence"][split] = float(y.mean()) if len(y) else None
    return result
