"""Hand-written: no maintained Python library (scikit-learn, SciPy, statsmodels) implements DeLong's paired AUC test.

DeLong's test for two correlated AUCs (same cases, two score sets), and the DeLong variance of one AUC:
DeLong, DeLong & Clarke-Pearson (1988), computed with midranks as in Sun & Xu (2014): the structural
components (placements) come from three rankings instead of an m x n comparison matrix.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from lib.core.errors import BadInputError


def _split(y_true, scores) -> tuple:
    """Scores of positives (k, m) and negatives (k, n) for k score sets; raises if a class is absent."""
    t = np.asarray(y_true).astype(bool)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    if s.shape[1] != t.size:
        raise BadInputError(f"scores have {s.shape[1]} cases but labels have {t.size}")
    if not t.any() or t.all():
        raise BadInputError("DeLong needs both positive and negative cases; labels have only one class")
    return s[:, t], s[:, ~t]


def placements(y_true, scores) -> tuple:
    """Structural components: V10 (k, m) for positives, V01 (k, n) for negatives.

    V10[i] = fraction of negatives a positive outscores (ties 1/2); V01[j] = fraction of positives
    that outscore negative j. Their means are the AUC.
    """
    pos, neg = _split(y_true, scores)
    m, n = pos.shape[1], neg.shape[1]
    tx = np.apply_along_axis(sps.rankdata, 1, pos)
    ty = np.apply_along_axis(sps.rankdata, 1, neg)
    tz = np.apply_along_axis(sps.rankdata, 1, np.concatenate([pos, neg], axis=1))
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return v10, v01


def delong_covariance(y_true, scores) -> tuple:
    """AUCs (k,) and their DeLong covariance matrix (k, k) for k score sets of shape (k, n_cases)."""
    v10, v01 = placements(y_true, scores)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((v10.shape[0],) * 2)
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((v01.shape[0],) * 2)
    return v10.mean(axis=1), s10 / m + s01 / n


def auc_variance(y_true, scores, confidence: float = 0.95) -> dict:
    """DeLong variance of one AUC: ``{"auc", "variance", "se", "ci"}``; ``ci`` is normal, clipped to [0, 1]."""
    aucs, cov = delong_covariance(y_true, np.asarray(scores, dtype=float)[None, :])
    var = float(cov[0, 0])
    se = float(np.sqrt(max(var, 0.0)))
    z = sps.norm.ppf(0.5 + confidence / 2)
    a = float(aucs[0])
    return {"auc": a, "variance": var, "se": se, "ci": [max(0.0, a - z * se), min(1.0, a + z * se)]}


def delong_test(y_true, scores_a, scores_b) -> dict:
    """Two-sided DeLong test of AUC(a) == AUC(b) on the same cases; scores shape (n,) each.

    Returns ``{"auc_a", "auc_b", "difference", "variance", "z", "p_value"}``; when the difference has zero
    variance (e.g. identical rankings) ``z`` and ``p_value`` are None with an ``undefined`` reason.
    """
    scores = np.stack([np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)])
    aucs, cov = delong_covariance(y_true, scores)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    out = {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff, "variance": var}
    if var <= 1e-15:
        out.update(z=None, p_value=None, undefined="the AUC difference has zero variance")
        return out
    z = diff / np.sqrt(var)
    out.update(z=float(z), p_value=float(2 * sps.norm.sf(abs(z))))
    return out
