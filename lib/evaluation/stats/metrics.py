"""Point estimates for a binary test: confusion counts, accuracy ... F1, AUC, Wilson intervals, calibration.

Conventions: ``y_true`` and ``y_pred`` are 1-D int arrays of 0/1 (1 = compression), ``scores`` are
float probabilities in [0, 1], all of shape (n,). Every metric comes back as a dict: ``{"value": float}``
or, when its denominator is empty, ``{"value": None, "undefined": "<reason>"}`` -- never NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

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
    z = sps.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


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


def auc_value(y_true, scores) -> float:
    """Area under the ROC curve by the Mann-Whitney statistic with midranks (ties count 1/2); NaN if one class."""
    t = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = sps.rankdata(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc(y_true, scores, unit: str = "segments") -> dict:
    """AUC as ``{"value": float}``, or ``{"value": None, "undefined": reason}`` when a class is absent."""
    t = np.asarray(y_true).astype(bool)
    if not t.any():
        return {"value": None, "undefined": f"no positive {unit}"}
    if t.all():
        return {"value": None, "undefined": f"no negative {unit}"}
    return {"value": auc_value(t, scores)}


def roc_curve_points(y_true, scores) -> dict:
    """ROC curve through every distinct threshold, from (0, 0) up: ``{"fpr", "tpr", "thresholds"}`` lists.

    ``thresholds[i]`` gives point i (call positive when score >= it); the first point, nothing called
    positive, has None.
    """
    t = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=float)
    thresholds = np.concatenate([[np.inf], np.unique(s)[::-1]])
    tpr = [float(np.mean(s[t] >= th)) if t.any() else 0.0 for th in thresholds]
    fpr = [float(np.mean(s[~t] >= th)) if (~t).any() else 0.0 for th in thresholds]
    return {"fpr": fpr, "tpr": tpr, "thresholds": [None] + [float(x) for x in thresholds[1:]]}


def brier_score(y_true, scores) -> float:
    """Mean squared difference between probability and outcome (0 is perfect); inputs shape (n,), n > 0."""
    return float(np.mean((np.asarray(scores, dtype=float) - np.asarray(y_true, dtype=float)) ** 2))


def reliability_bins(y_true, scores, n_bins: int = 10) -> list:
    """Equal-width bins, empty ones left out: ``[{"lo", "hi", "n", "mean_probability", "observed_rate"}]``."""
    t = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # The last bin is closed on the right so a probability of exactly 1 is counted.
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
