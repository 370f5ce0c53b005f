"""Agreement and paired comparison: Cohen's kappa (plain, linear, quadratic) with a CI and Landis-Koch band; McNemar.

Kappa's standard error is the large-sample (non-null) formula of Fleiss, Cohen & Everitt (1969), which
ignores clustering of segments within patients; the evaluation adds a patient-level bootstrap CI beside it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as mcnemar_test

from lib.core.errors import BadInputError

# Upper bounds (inclusive) of the Landis & Koch (1977) bands; above 0.80 is "almost perfect".
_BANDS = ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"))
EXACT_BELOW = 25  # discordant pairs under this: exact binomial McNemar, else chi-square with correction
WEIGHTS = (None, "linear", "quadratic")


def landis_koch_band(kappa) -> str | None:
    """Landis-Koch label of a kappa: <0 poor, 0-0.20 slight, 0.21-0.40 fair, 0.41-0.60 moderate,
    0.61-0.80 substantial, above 0.80 almost perfect; None for None."""
    if kappa is None:
        return None
    if kappa < 0:
        return "poor"
    for upper, name in _BANDS:
        if kappa <= upper:
            return name
    return "almost perfect"


def _disagreement_weights(k: int, weights) -> np.ndarray:
    """(k, k) disagreement weights: 0 on the diagonal, 1 for the farthest categories."""
    if weights not in WEIGHTS:
        raise BadInputError(f"kappa weights {weights!r} not allowed; use one of None, 'linear', 'quadratic'")
    i = np.arange(k)
    d = np.abs(i[:, None] - i[None, :]) / max(k - 1, 1)
    if weights is None:
        return (d > 0).astype(float)
    return d if weights == "linear" else d**2


def contingency(a, b, categories) -> np.ndarray:
    """Counts (k, k) of rater-a category (rows) against rater-b category (columns); raises on unknown values."""
    cats = list(categories)
    lookup = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    for x, y in zip(np.asarray(a).tolist(), np.asarray(b).tolist()):
        if x not in lookup or y not in lookup:
            raise BadInputError(f"rating {x if x not in lookup else y!r} is not one of {cats}")
        table[lookup[x], lookup[y]] += 1
    return table


def cohen_kappa(a, b, weights=None, categories=(0, 1), confidence: float = 0.95) -> dict:
    """Cohen's kappa of two raters over the same n cases (``a``, ``b`` shape (n,), values in ``categories``).

    ``weights``: None (plain), "linear" or "quadratic" (ordinal, e.g. Kang grades 0-3 with categories 0..3).
    Returns ``{"value", "se", "ci", "band", "n", "weights"}``; ``{"value": None, "undefined": reason}``
    when chance agreement is total (both raters use one and the same category) or there are no cases.
    """
    table = contingency(a, b, categories)
    n = table.sum()
    out = {"n": int(n), "weights": weights}
    if n == 0:
        return {**out, "value": None, "undefined": "no cases rated by both"}
    w = 1.0 - _disagreement_weights(len(table), weights)  # agreement weights
    p = table / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float((w * np.outer(row, col)).sum())
    if pe >= 1.0 - 1e-12:
        return {**out, "value": None, "undefined": "chance agreement is 1 (both raters use a single category)"}
    kappa = (po - pe) / (1.0 - pe)
    w_row = w @ col  # mean agreement weight of each row category against the column marginal
    w_col = row @ w
    term = (p * (w - (w_row[:, None] + w_col[None, :]) * (1 - kappa)) ** 2).sum()
    var = (term - (kappa - pe * (1 - kappa)) ** 2) / ((1 - pe) ** 2 * n)
    se = float(np.sqrt(max(var, 0.0)))
    z = sps.norm.ppf(0.5 + confidence / 2)
    return {
        **out,
        "value": float(kappa),
        "se": se,
        "ci": [float(max(-1.0, kappa - z * se)), float(min(1.0, kappa + z * se))],
        "band": landis_koch_band(kappa),
    }


def mcnemar_from_counts(b: int, c: int) -> dict:
    """McNemar test (statsmodels) on discordant counts b (only a right) and c (only b right).

    Exact two-sided binomial when b + c < 25, else chi-square (1 df) with continuity correction.
    Returns ``{"b", "c", "n_discordant", "method", "statistic", "p_value"}``.
    """
    b, c = int(b), int(c)
    n = b + c
    out = {"b": b, "c": c, "n_discordant": n}
    exact = n < EXACT_BELOW
    test = mcnemar_test([[0, b], [c, 0]], exact=exact, correction=True)
    if exact:
        return {**out, "method": "exact binomial", "statistic": min(b, c), "p_value": float(test.pvalue)}
    return {
        **out,
        "method": "chi-square with continuity correction",
        "statistic": float(test.statistic),
        "p_value": float(test.pvalue),
    }


def mcnemar(correct_a, correct_b) -> dict:
    """Paired McNemar test of two raters' correctness on the same n cases (bool arrays, shape (n,))."""
    a = np.asarray(correct_a).astype(bool)
    b = np.asarray(correct_b).astype(bool)
    out = mcnemar_from_counts(int(np.sum(a & ~b)), int(np.sum(~a & b)))
    out.update(
        n=int(a.size), accuracy_a=float(a.mean()) if a.size else None, accuracy_b=float(b.mean()) if b.size else None
    )
    return out
