"""Figures of the robustness benchmark: one film's outcome under a shift against its (shifted) truth, and per shift.

Per film (``film_record``): whether the spine was found, level Dice over the levels visible in the truth, how many
found bodies carry their true name, and per segment the truth label and the pipeline's probability. Per shift
(``summarise``): share of films with a spine found, mean level Dice, level identity (share of found bodies named
correctly), per-segment compression AUC (scikit-learn) over the segments the pipeline assessed, and the compression
calls made on films whose level names were wrong (a call on the wrong disc is the harm this measures).
"""

from __future__ import annotations

import io
from typing import Mapping, Optional, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from lib.anatomy.levels import multilabel_dice
from lib.anatomy.names import LEVEL_LABELS, SEGMENTS, VERTEBRAE

CONFIDENT_PROBABILITY = 0.9  # a compression call a reader would not second-guess
BODY_LABELS = {name: LEVEL_LABELS[name] for name in VERTEBRAE}
COLUMNS = (
    ("spine_found", "spine found"),
    ("level_dice", "level Dice"),
    ("level_identity", "level identity"),
    ("c2_in_view", "C2 in view"),
    ("segment_auc", "segment AUC"),
    ("segments_assessed", "segments assessed"),
    ("confident_calls_levels_wrong", "confident calls, levels wrong"),
)


def level_dice(predicted: np.ndarray, truth: np.ndarray) -> Optional[float]:
    """Mean Dice over the bodies visible in ``truth`` (a body the prediction lacks counts 0); None without any."""
    visible = [name for name, idx in BODY_LABELS.items() if (truth == idx).any()]
    if not visible:
        return None
    dice = multilabel_dice(predicted, truth, BODY_LABELS)
    return float(np.mean([dice[name] for name in visible]))


def named_correctly(predicted: np.ndarray, truth: np.ndarray, found: Sequence[str]) -> tuple[int, int]:
    """(correct, found): a found body is named correctly when most of its truth-body pixels carry its own id."""
    correct = 0
    for name in found:
        under = truth[predicted == LEVEL_LABELS[name]]
        under = under[(under >= 1) & (under <= len(VERTEBRAE))]
        if len(under):
            ids, counts = np.unique(under, return_counts=True)
            correct += int(ids[np.argmax(counts)] == LEVEL_LABELS[name])
    return correct, len(found)


def film_record(
    result: Optional[Mapping], predicted: Optional[np.ndarray], truth: np.ndarray, targets: Mapping, error: str = ""
) -> dict:
    """One film under one shift. result: the pipeline JSON (None when it failed, with ``error``); predicted: its
    label map; truth: the shifted truth level map; targets: ``{segment: 0 | 1 | None}`` (the MRI reference)."""
    found_spine = bool(result and result.get("cervical_spine_found"))
    found = list((result or {}).get("levels", {}).get("found", [])) if found_spine else []
    pred = predicted if predicted is not None else np.zeros_like(truth)
    correct, named = named_correctly(pred, truth, found)
    segments = (result or {}).get("segments", {})
    calls = {}
    for segment in SEGMENTS:
        p = (segments.get(segment) or {}).get("probability")
        calls[segment] = {
            "truth": targets.get(segment),
            "probability": p,
            "positive": (segments.get(segment) or {}).get("positive"),
        }
    return {
        "spine_found": found_spine,
        "c2_in_view": bool(found_spine and (result or {}).get("levels", {}).get("c2_in_view")),
        "levels_found": found,
        "level_dice": level_dice(pred, truth),
        "named_correctly": correct,
        "bodies_found": named,
        "segments": calls,
        "reason": str((result or {}).get("reason") or error),
        "error": error or None,
    }


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def summarise(records: Sequence[Mapping]) -> dict:
    """The figures of one shift over its films' ``film_record``s."""
    n = len(records)
    correct = sum(r["named_correctly"] for r in records)
    bodies = sum(r["bodies_found"] for r in records)
    pairs = [
        (c["truth"], c["probability"])
        for r in records
        for c in r["segments"].values()
        if c["truth"] is not None and c["probability"] is not None
    ]
    labelled = sum(c["truth"] is not None for r in records for c in r["segments"].values())
    truths = [t for t, _ in pairs]
    auc = None
    if len(set(truths)) == 2:
        auc = round(float(roc_auc_score(truths, [p for _, p in pairs])), 4)
    wrong = [r for r in records if r["named_correctly"] < r["bodies_found"]]
    wrong_calls = [c for r in wrong for c in r["segments"].values() if c["probability"] is not None]
    return {
        "films": n,
        "spine_found": round(sum(r["spine_found"] for r in records) / n, 4) if n else None,
        "c2_in_view": round(sum(r["c2_in_view"] for r in records) / n, 4) if n else None,
        "level_dice": _mean(r["level_dice"] for r in records),
        "level_identity": round(correct / bodies, 4) if bodies else None,
        "bodies_found": bodies,
        "segment_auc": auc,
        "segment_auc_note": None if auc is not None else "undefined: the assessed segments hold one class or none",
        "segments_assessed": round(len(pairs) / labelled, 4) if labelled else None,
        "films_levels_wrong": len(wrong),
        "positive_calls_levels_wrong": sum(bool(c["positive"]) for c in wrong_calls),
        "confident_calls_levels_wrong": sum(c["probability"] >= CONFIDENT_PROBABILITY for c in wrong_calls),
        "errors": sum(bool(r["error"]) for r in records),
    }


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_table(summary: Mapping[str, Mapping], descriptions: Mapping[str, str]) -> str:
    """One row per shift, the ``COLUMNS`` figures, as a markdown table (also how the terminal shows it)."""
    head = "| shift | " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|---|" + "---|" * len(COLUMNS)
    rows = [
        f"| {descriptions.get(name, name)} | " + " | ".join(_cell(figures.get(key)) for key, _ in COLUMNS) + " |"
        for name, figures in summary.items()
    ]
    return "\n".join([head, rule, *rows])


def table_png(summary: Mapping[str, Mapping], descriptions: Mapping[str, str], title: str) -> bytes:
    """The table as a small PNG (matplotlib), figures coloured from red (0) to green (1) where they are shares."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    names = list(summary)
    cells = [[_cell(summary[n].get(key)) for key, _ in COLUMNS] for n in names]
    colours = []
    for n in names:
        row = []
        for key, _ in COLUMNS:
            value = summary[n].get(key)
            share = isinstance(value, float) and key != "confident_calls_levels_wrong"
            row.append(plt.cm.RdYlGn(0.15 + 0.7 * value) if share else (1, 1, 1, 1))
        colours.append(row)
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(names) + 1.2), dpi=110)
    ax.axis("off")
    table = ax.table(
        cellText=cells,
        cellColours=colours,
        rowLabels=[descriptions.get(n, n) for n in names],
        colLabels=[title.replace(", ", ",\n").replace("segments ", "segments\n") for _, title in COLUMNS],
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 1.3)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_height(cell.get_height() * 1.8)  # two-line headers
    fig.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
