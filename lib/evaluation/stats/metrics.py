"""Point estimates for a binary test: confusion counts, accuracy ... F1, AUC, Wilson intervals, calibration.

Conventions: ``y_true`` and ``y_pred`` are 1-D int arrays of 0/1 (1 = compression), ``scores`` are
float probabilities in [0, 1], all of shape (n,). Every metric comes back as a dict: ``{"value": float}``
or, when its denominator is empty, ``{"value": None, "undefined": "<reason>"}`` -- never NaN.
AUC, ROC points and the Brier score are scikit-learn's, Wilson intervals statsmodels'.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from statsmodels.stats.proportion import proportion_confint

from lib.core.errors import BadInputError

# Each proportion: (numerator, denominator) in terms of the counts tp, fp, tn, fn.
PROPORTIONS = ("accuracy", "sensitivity", "specificity", "ppv", "npv")
METRICS = PROPORTIONS + ("f1",)


def confusion_counts(y_true, y_pred) -> dict:
    """2x2 table of a binary test: ``{"tp", "fp", "tn", "fn"}`` as ints. Inputs shape (n,), values 0/1."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    return {
        "tp": int(np.sum(t & p)),
        "fp": int(np.sum(~t & p)),
        "tn": int(np.sum(~t & ~p)),
        "fn": int(np.sum(t & ~p)),
    }


def ratios_from_counts(tp, fp, tn, fn) -> dict:
    """Numerators and denominators of each metric; counts may be scalars or arrays of shape (b,)."""
    tp, fp, tn, fn = (np.asarray(c, dtype=float) for c in (tp, fp, tn, fn))
    return {
        "accuracy": (tp + tn, tp + fp + tn + fn),
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
        "f1": (2 * tp, 2 * tp + fp + fn),
    }


def metric_arrays(tp, fp, tn, fn) -> dict:
    """Every metric as float arrays (NaN where the denominator is 0); for the vectorised bootstrap only."""
    out = {}
    for name, (num, den) in ratios_from_counts(tp, fp, tn, fn).items():
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out


def _undefined_reason(name: str, unit: str) -> str:
    return {
        "accuracy": f"no {unit}",
        "sensitivity": f"no positive {unit}",
        "specificity": f"no negative {unit}",
        "ppv": f"no {unit} called positive",
        "npv": f"no {unit} called negative",
        "f1": f"no positive {unit} and none called positive",
    }[name]


def wilson_interval(successes: int, n: int, confidence: float = 0.95):
    """Wilson score interval for a binomial proportion, ignoring clustering: ``[lo, hi]``, or None if n == 0."""
    if n <= 0:
        return None
    lo, hi = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return [float(lo), float(hi)]


def binary_metrics(y_true, y_pred, unit: str = "segments", confidence: float = 0.95) -> dict:
    """Accuracy, sensitivity, specificity, PPV, NPV, F1 of calls ``y_pred`` against ``y_true``.

    Returns ``{name: {"value", "numerator", "denominator", "wilson"}}`` (``wilson`` only for proportions),
    with ``{"value": None, "undefined": reason}`` where the denominator is empty. ``unit`` words the reason.
    """
    c = confusion_counts(y_true, y_pred)
    out = {}
    for name, (num, den) in ratios_from_counts(c["tp"], c["fp"], c["tn"], c["fn"]).items():
        num, den = int(num), int(den)
        if den == 0:
            out[name] = {"value": None, "undefined": _undefined_reason(name, unit)}
            continue
        entry = {"value": num / den, "numerator": num, "denominator": den}
        if name in PROPORTIONS:
            entry["wilson"] = wilson_interval(num, den, confidence)
        out[name] = entry
    return out


def auc(y_true, scores, unit: str = "segments") -> dict:
    """AUC as ``{"value": float}``, or ``{"value": None, "undefined": reason}`` when a class is absent."""
    t = np.asarray(y_true).astype(bool)
    if not t.any():
        return {"value": None, "undefined": f"no positive {unit}"}
    if t.all():
        return {"value": None, "undefined": f"no negative {unit}"}
    return {"value": float(roc_auc_score(t, np.asarray(scores, dtype=float)))}


def roc_curve_points(y_true, scores) -> dict:
    """ROC curve through every distinct threshold, from (0, 0) up: ``{"fpr", "tpr", "thresholds"}`` lists.

    ``thresholds[i]`` gives point i (call positive when score >= it); the first point, nothing called
    positive, has None. Needs both positive and negative cases.
    """
    t = np.asarray(y_true).astype(bool)
    if not t.any() or t.all():
        raise BadInputError("an ROC curve needs both positive and negative cases")
    fpr, tpr, thresholds = roc_curve(t, np.asarray(scores, dtype=float), drop_intermediate=False)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": [None] + thresholds[1:].tolist()}


def brier_score(y_true, scores) -> float:
    """Mean squared difference between probability and outcome (0 is perfect); inputs shape (n,), n > 0."""
    return float(brier_score_loss(np.asarray(y_true).astype(int), np.asarray(scores, dtype=float)))


def reliability_bins(y_true, scores, n_bins: int = 10) -> list:
    """Equal-width bins, empty ones left out: ``[{"lo", "hi", "n", "mean_probability", "observed_rate"}]``."""
    t = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Not sklearn's calibration_curve: its bins are closed on the right (a probability on an edge falls in the
    # lower bin) and it returns no counts. Here bins are [lo, hi), the last closed so a probability of 1 is counted.
    idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        m = idx == b
        if m.any():
            out.append(
                {
                    "lo": float(edges[b]),
                    "hi": float(edges[b + 1]),
                    "n": int(m.sum()),
                    "mean_probability": float(s[m].mean()),
                    "observed_rate": float(t[m].mean()),
                }
            )
    return out
