"""Choosing the operating threshold on validation data only (never on a test set).

A case is called positive when its probability is >= the threshold.
"""

from __future__ import annotations

import numpy as np

from lib.core.errors import BadInputError

METHODS = ("youden", "sensitivity")


def _operating_points(y_true, scores) -> tuple:
    """Candidate thresholds (distinct scores, descending) with their sensitivity and specificity, shape (k,) each."""
    t = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=float)
    if not t.any() or t.all():
        raise BadInputError("threshold selection needs validation data with both positive and negative cases")
    cand = np.unique(s)[::-1]
    sens = np.array([np.mean(s[t] >= c) for c in cand])
    spec = np.array([np.mean(s[~t] < c) for c in cand])
    return cand, sens, spec


def select_threshold(y_true, scores, method: str = "youden", target_sensitivity: float = 0.9) -> dict:
    """Threshold from validation labels (0/1) and scores (probabilities), both shape (n,).

    ``method="youden"``: maximise J = sensitivity + specificity - 1 (ties: the highest threshold).
    ``method="sensitivity"``: the highest threshold whose validation sensitivity >= ``target_sensitivity``.
    Returns ``{"threshold", "method", "description", "sensitivity", "specificity", "n_validation"}``.
    """
    if method not in METHODS:
        raise BadInputError(f"threshold method {method!r} not allowed; use one of {', '.join(METHODS)}")
    cand, sens, spec = _operating_points(y_true, scores)
    if method == "youden":
        i = int(np.argmax(sens + spec - 1))
        how = f"Youden's J maximised on validation (J = {sens[i] + spec[i] - 1:.4f})"
    else:
        if not 0 < target_sensitivity <= 1:
            raise BadInputError(f"target sensitivity {target_sensitivity} not in (0, 1]")
        i = int(np.argmax(sens >= target_sensitivity))  # sens rises as the threshold falls; first hit is highest
        how = f"highest threshold with validation sensitivity >= {target_sensitivity:g}"
    return {
        "threshold": float(cand[i]),
        "method": method,
        "description": how,
        "sensitivity": float(sens[i]),
        "specificity": float(spec[i]),
        "n_validation": int(len(np.asarray(scores))),
    }
