"""Hand-written: scipy.stats.bootstrap resamples single cases; no maintained library resamples patients (clusters).

Patient-level cluster bootstrap, vectorised over replicates.

Segments of one patient are correlated, so a replicate resamples *patients* with replacement and keeps
all their segments. A replicate is a row of ``weights`` (shape (b, n_patients), int): how many times each
patient was drawn. Count metrics are then ``weights @ per_patient_counts`` and the AUC is a weighted
Mann-Whitney sum over score groups, so 2,000 replicates cost a few matrix products, not 2,000 loops.
"""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

from lib.evaluation.stats.metrics import metric_arrays

log = logging.getLogger(__name__)

CHUNK = 250  # replicates per matrix product; bounds memory and gives the progress bar steps


def patient_weights(n_patients: int, n_bootstrap: int = 2000, seed: int = 0) -> np.ndarray:
    """Multiplicity of each patient in each replicate: int array (n_bootstrap, n_patients), rows sum to n_patients."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_patients, size=(n_bootstrap, n_patients))
    flat = draws + n_patients * np.arange(n_bootstrap)[:, None]
    return np.bincount(flat.ravel(), minlength=n_bootstrap * n_patients).reshape(n_bootstrap, n_patients)


def _indicator(rows: np.ndarray, cols: np.ndarray, shape: tuple) -> np.ndarray:
    """Dense count matrix: entry (r, c) counts how often the pair occurs; float for fast matmul."""
    m = np.zeros(shape)
    np.add.at(m, (rows, cols), 1.0)
    return m


def _replicate_auc(w: np.ndarray, pos_m: np.ndarray, neg_m: np.ndarray) -> np.ndarray:
    """Weighted AUC per replicate; ``pos_m``/``neg_m`` (n_patients, n_groups) count cases per ascending score group."""
    # Rank-based by hand: sklearn's roc_auc_score once per replicate is ~200x slower (7.7 s vs 40 ms for 2,000 on
    # 300 segments); the point estimate comes from sklearn (metrics.auc) and the unit tests tie the two together.
    pos_w = w @ pos_m
    neg_w = w @ neg_m
    neg_below = np.cumsum(neg_w, axis=1) - neg_w
    num = np.sum(pos_w * (neg_below + 0.5 * neg_w), axis=1)
    den = pos_w.sum(axis=1) * neg_w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _replicate_kappa(tp, fp, tn, fn) -> np.ndarray:
    """Cohen's kappa of the binary 2x2 table per replicate; NaN where chance agreement is 1."""
    n = tp + fp + tn + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        po = (tp + tn) / n
        pe = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
        return np.where((n > 0) & (pe < 1), (po - pe) / np.where(pe < 1, 1 - pe, 1), np.nan)


def bootstrap_metrics(
    y_true, y_pred, patient_idx, weights: np.ndarray, scores=None, progress=False, desc: str = "bootstrap"
) -> dict:
    """Replicate values of every binary metric, kappa and (given ``scores``) the AUC.

    ``y_true``, ``y_pred`` (0/1), ``scores`` (float) and ``patient_idx`` (int index into the columns of
    ``weights``) have shape (n,). Returns ``{name: float array (b,)}`` with NaN where a replicate leaves
    the metric undefined (e.g. no positive case drawn). ``progress``: True for a tqdm bar of its own, or a
    callable given the number of replicates done after each chunk (to drive one bar over several calls).
    """
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    pid = np.asarray(patient_idx, dtype=int)
    n_pat = weights.shape[1]
    # Per-patient confusion counts, shape (n_patients, 4): tp, fp, tn, fn.
    cells = np.stack([t & p, ~t & p, ~t & ~p, t & ~p], axis=1).astype(float)
    per_patient = np.zeros((n_pat, 4))
    np.add.at(per_patient, pid, cells)
    if scores is not None:
        _, group = np.unique(np.asarray(scores, dtype=float), return_inverse=True)
        n_groups = int(group.max()) + 1 if group.size else 0
        pos_m = _indicator(pid[t], group[t], (n_pat, n_groups))
        neg_m = _indicator(pid[~t], group[~t], (n_pat, n_groups))
    parts = []
    bar = tqdm(total=weights.shape[0], desc=desc, unit="replicate", leave=False) if progress is True else None
    for start in range(0, weights.shape[0], CHUNK):
        w = weights[start : start + CHUNK].astype(float)
        tp, fp, tn, fn = (w @ per_patient).T
        chunk = metric_arrays(tp, fp, tn, fn)
        chunk["kappa"] = _replicate_kappa(tp, fp, tn, fn)
        if scores is not None:
            chunk["auc"] = _replicate_auc(w, pos_m, neg_m)
        parts.append(chunk)
        if bar is not None:
            bar.update(len(w))
        elif callable(progress):
            progress(len(w))
    if bar is not None:
        bar.close()
    return {k: np.concatenate([c[k] for c in parts]) for k in parts[0]} if parts else {}


def percentile_ci(replicates: np.ndarray, confidence: float = 0.95) -> dict:
    """Percentile interval of the defined replicates: ``{"ci": [lo, hi], "replicates_undefined": k}``.

    ``ci`` is None when no replicate is defined; undefined replicates are left out and counted, not imputed.
    """
    r = np.asarray(replicates, dtype=float)
    ok = r[np.isfinite(r)]
    out = {"replicates_undefined": int(r.size - ok.size)}
    if ok.size == 0:
        out["ci"] = None
        return out
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ok, [alpha, 1 - alpha])
    out["ci"] = [float(lo), float(hi)]
    return out
