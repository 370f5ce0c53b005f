"""The ceiling: how well the radiographically visible ground truth alone predicts the MRI label.

A logistic regression (numpy IRLS, small ridge) on the visible features of the training split's segments,
scored by AUC on every split. Invisible causes (disc bulge, flavum buckling) and MRI label noise keep it below 1.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
from scipy.stats import rankdata

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


def fit_logistic(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights [k+1], feature mean [k], feature sd [k]) by Newton-Raphson on standardised features."""
    mean, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.column_stack([np.ones(len(x)), (x - mean) / sd])
    w = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + RIDGE * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + RIDGE * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w, mean, sd


def predict(model, x: np.ndarray) -> np.ndarray:
    w, mean, sd = model
    return 1.0 / (1.0 + np.exp(-np.clip(np.column_stack([np.ones(len(x)), (x - mean) / sd]) @ w, -30, 30)))


def auc(y: np.ndarray, score: np.ndarray) -> Optional[float]:
    """Area under the ROC curve (Mann-Whitney, ties averaged); None without both classes."""
    n_pos, n_neg = int(np.sum(y == 1)), int(np.sum(y == 0))
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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
