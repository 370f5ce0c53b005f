"""Learning curves of a simulated annotation campaign: Dice against corrected films, per strategy and start.

A curve is ``[(films corrected, score), ...]`` of one run (one seed). Runs of the same strategy and start are
aggregated on the film counts they share (mean with the min-max band over seeds), and read for the films needed
to reach a score, which is what a hospital planning its annotation wants to know.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

Curve = Sequence[tuple[int, float]]


def _checked(curve: Curve) -> list[tuple[int, float]]:
    points = [(int(n), float(s)) for n, s in curve]
    counts = [n for n, _ in points]
    if any(b <= a for a, b in zip(counts, counts[1:])):
        raise ValueError(f"a learning curve's film counts must increase, got {counts}")
    return points


def films_to_reach(curve: Curve, threshold: float) -> int | None:
    """The fewest corrected films after which the score is at least ``threshold``; None when it never is.

    Measured points only, no interpolation: the campaign scores after whole rounds.
    """
    for films, score in _checked(curve):
        if score >= threshold:
            return films
    return None


def aggregate_curves(curves: Sequence[Curve]) -> dict:
    """``{"films", "mean", "min", "max", "runs"}`` over the film counts every run measured (seeds of one arm)."""
    if not curves:
        raise ValueError("no learning curves to aggregate")
    checked = [dict(_checked(curve)) for curve in curves]
    shared = sorted(set.intersection(*(set(c) for c in checked)))
    if not shared:
        raise ValueError("the learning curves share no film count to aggregate on")
    scores = np.array([[c[n] for n in shared] for c in checked])
    return {
        "films": shared,
        "mean": [round(float(v), 4) for v in scores.mean(axis=0)],
        "min": [round(float(v), 4) for v in scores.min(axis=0)],
        "max": [round(float(v), 4) for v in scores.max(axis=0)],
        "runs": len(curves),
    }


def films_needed(curves: Sequence[Curve], threshold: float) -> dict:
    """Films to reach ``threshold`` over the runs of one arm: per run, and the median, min and max of those that
    reached it, with how many did not."""
    per_run = [films_to_reach(curve, threshold) for curve in curves]
    reached = [n for n in per_run if n is not None]
    return {
        "threshold": threshold,
        "per_run": per_run,
        "median": float(np.median(reached)) if reached else None,
        "min": min(reached) if reached else None,
        "max": max(reached) if reached else None,
        "not_reached": len(per_run) - len(reached),
    }


def plot_learning_curves(arms: Mapping[str, dict], path, title: str, thresholds: Sequence[float] = ()) -> None:
    """One line per arm (an ``aggregate_curves`` result) with its min-max band, written as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, arm in arms.items():
        (line,) = axes.plot(arm["films"], arm["mean"], marker="o", label=f"{name} (n={arm['runs']})")
        axes.fill_between(arm["films"], arm["min"], arm["max"], color=line.get_color(), alpha=0.2)
    for threshold in thresholds:
        axes.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("corrected films")
    axes.set_ylabel("mean level Dice (test films)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
