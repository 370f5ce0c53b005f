"""Metrics of one unit of analysis (segments, one level, patients, a reader's calls) with bootstrap CIs."""

from __future__ import annotations

import numpy as np

from lib.evaluation.stats import (
    auc,
    auc_variance,
    binary_metrics,
    bootstrap_metrics,
    cohen_kappa,
    confusion_counts,
    mcnemar,
    percentile_ci,
)
from lib.evaluation.stats.metrics import roc_curve_points


def _kappa_entry(y, pred, confidence: float) -> dict:
    k = cohen_kappa(y, pred, confidence=confidence)
    if k["value"] is None:
        return {"value": None, "undefined": k["undefined"]}
    return {"value": k["value"], "band": k["band"], "se": k["se"], "ci_analytic": k["ci"]}


def unit_result(
    y,
    pred,
    pid,
    weights,
    scores=None,
    unit: str = "segments",
    confidence: float = 0.95,
    progress=False,
    desc: str = "bootstrap",
) -> dict:
    """Counts, metrics and CIs of calls ``pred`` (and ``scores``) against reference ``y``, all shape (n,).

    ``pid`` indexes the columns of the bootstrap ``weights`` (n_bootstrap, n_patients). Each metric:
    ``{"value", "ci" (patient cluster bootstrap, percentile), "wilson" (proportions, clustering ignored),
    "replicates_undefined"}`` or ``{"value": None, "undefined": reason}``. ``progress`` as in ``bootstrap_metrics``.
    """
    y = np.asarray(y, dtype=int)
    pred = np.asarray(pred, dtype=int)
    metrics = binary_metrics(y, pred, unit, confidence)
    if scores is not None:
        metrics["auc"] = auc(y, scores, unit)
        if metrics["auc"]["value"] is not None:
            # DeLong's interval ignores clustering; kept beside the bootstrap one as Wilson is for proportions.
            metrics["auc"]["ci_delong"] = auc_variance(y, scores, confidence)["ci"]
    metrics["kappa"] = _kappa_entry(y, pred, confidence)
    if y.size:
        reps = bootstrap_metrics(y, pred, pid, weights, scores=scores, progress=progress, desc=desc)
        for name, entry in metrics.items():
            if entry["value"] is not None and name in reps:
                entry.update(percentile_ci(reps[name], confidence))
    out = {"n": int(y.size), "positives": int(y.sum()), "confusion": confusion_counts(y, pred), "metrics": metrics}
    if scores is not None and 0 < y.sum() < y.size:
        out["roc"] = roc_curve_points(y, scores)
    return out


def _paired(correct_model, correct_reader, mask) -> dict:
    if not mask.any():
        return {"n": 0, "p_value": None, "undefined": "no segments in this group read by both"}
    return mcnemar(correct_model[mask], correct_reader[mask])


def reader_vs_model(y, call, model_pred) -> dict:
    """Paired comparison on segments both read: McNemar on correctness (all, positives, negatives), agreement kappa.

    ``b`` counts segments only the model got right, ``c`` those only the reader got right.
    """
    y, call, model_pred = (np.asarray(a, dtype=int) for a in (y, call, model_pred))
    model_ok, reader_ok = model_pred == y, call == y
    k = cohen_kappa(call, model_pred)
    return {
        "n": int(y.size),
        "accuracy": _paired(model_ok, reader_ok, np.ones(y.size, bool)),
        "sensitivity": _paired(model_ok, reader_ok, y == 1),
        "specificity": _paired(model_ok, reader_ok, y == 0),
        "kappa_agreement": {key: k[key] for key in ("value", "band", "ci", "undefined") if key in k},
    }


def kang_kappas(reference_kang, reader_kang, confidence: float = 0.95) -> dict:
    """Linear and quadratic weighted kappa of Kang grades 0-3 (shape (n,) each) on segments graded by both."""
    out = {}
    for w in ("linear", "quadratic"):
        k = cohen_kappa(reader_kang, reference_kang, weights=w, categories=range(4), confidence=confidence)
        out[w] = {key: k[key] for key in ("value", "band", "se", "ci", "n", "undefined") if key in k}
    return out


def confident_errors(ids: list, y, scores, threshold: float, limit: int = 12) -> list:
    """The ``limit`` most confident wrong calls: false positives by probability, false negatives by 1 - probability."""
    y = np.asarray(y, dtype=int)
    s = np.asarray(scores, dtype=float)
    wrong = np.flatnonzero((s >= threshold).astype(int) != y)
    confidence = np.where(y[wrong] == 1, 1 - s[wrong], s[wrong])
    order = wrong[np.argsort(-confidence, kind="stable")][:limit]
    return [
        {
            "id": ids[i],
            "probability": float(s[i]),
            "reference": int(y[i]),
            "kind": "false negative" if y[i] == 1 else "false positive",
        }
        for i in order
    ]
