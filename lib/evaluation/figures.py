"""Figures of the evaluation report, each returned as a base64 PNG string for embedding in HTML."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110


def _to_base64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def roc_figure(curves: dict, readers: dict, title: str) -> str:
    """ROC curves ``{label: {"fpr": list, "tpr": list}}`` with reader operating points ``{name: (fpr, tpr)}``."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for label, c in curves.items():
        ax.plot(c["fpr"], c["tpr"], lw=1.8, label=label)
    for name, (fpr, tpr) in readers.items():
        ax.plot([fpr], [tpr], marker="o", ls="none", ms=7, label=f"reader {name}")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), title=title)
    ax.legend(loc="lower right", fontsize=7)
    return _to_base64(fig)


def confusion_figure(counts: dict, title: str) -> str:
    """2x2 confusion matrix from ``{"tp", "fp", "tn", "fn"}``: rows reference, columns model call."""
    grid = [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    fig, ax = plt.subplots(figsize=(2.8, 2.6))
    ax.imshow(grid, cmap="Blues")
    top = max(max(r) for r in grid) or 1
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(grid[i][j]), ha="center", va="center", color="white" if grid[i][j] > top / 2 else "black")
    ax.set_xticks([0, 1], ["no", "compression"])
    ax.set_yticks([0, 1], ["no", "compression"])
    ax.set(xlabel="model call", ylabel="MRI reference", title=title)
    return _to_base64(fig)


def calibration_figure(bins: list, brier: float, title: str) -> str:
    """Reliability diagram: observed rate against mean probability per bin, point size by count."""
    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1, label="perfect calibration")
    x = [b["mean_probability"] for b in bins]
    y = [b["observed_rate"] for b in bins]
    ax.plot(x, y, marker="o", lw=1.5, label=f"model (Brier {brier:.4f})")
    for b in bins:
        ax.annotate(
            str(b["n"]),
            (b["mean_probability"], b["observed_rate"]),
            fontsize=6,
            textcoords="offset points",
            xytext=(3, -9),
        )
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed rate of compression",
        xlim=(0, 1),
        ylim=(0, 1),
        title=title,
    )
    ax.legend(loc="upper left", fontsize=7)
    return _to_base64(fig)
