"""Diagnostic-accuracy statistics as pure functions returning plain dicts.

Submodules: ``metrics`` (confusion counts, accuracy, sensitivity, ..., AUC, Wilson intervals; scikit-learn and
statsmodels underneath), ``bootstrap`` (vectorised patient-level cluster bootstrap), ``delong`` (two correlated
AUCs), ``agreement`` (Cohen's kappa, weighted kappa, Landis-Koch band, McNemar from statsmodels), ``threshold``
(operating point chosen on validation data). No value returned here is NaN: an undefined
metric is ``{"value": None, "undefined": "<reason>"}``.
"""

from lib.evaluation.stats.agreement import cohen_kappa, landis_koch_band, mcnemar, mcnemar_from_counts
from lib.evaluation.stats.bootstrap import bootstrap_metrics, patient_weights, percentile_ci
from lib.evaluation.stats.delong import auc_variance, delong_test
from lib.evaluation.stats.metrics import (
    auc,
    binary_metrics,
    brier_score,
    confusion_counts,
    reliability_bins,
    wilson_interval,
)
from lib.evaluation.stats.threshold import select_threshold

__all__ = [
    "auc",
    "auc_variance",
    "binary_metrics",
    "bootstrap_metrics",
    "brier_score",
    "cohen_kappa",
    "confusion_counts",
    "delong_test",
    "landis_koch_band",
    "mcnemar",
    "mcnemar_from_counts",
    "patient_weights",
    "percentile_ci",
    "reliability_bins",
    "select_threshold",
    "wilson_interval",
]
