"""Our numbers beside the published ones (Chen et al., segment-level, MRI reference)."""

from __future__ import annotations

PAPER = (
    ("model", "internal", {"accuracy": 0.9467, "auc": 0.9911, "kappa": 0.893}),
    ("model", "external", {"accuracy": 0.9333, "auc": 0.9868}),
    ("surgeon 1", "internal", {"accuracy": 0.6909, "kappa": 0.378}),
    ("surgeon 2", "internal", {"accuracy": 0.7118, "kappa": 0.422}),
)


def _pick_sets(test_sets: dict) -> dict:
    """Which of our test sets plays the paper's internal and external test: by name, else the first one is internal."""
    names = sorted(test_sets)
    external = next((n for n in names if "external" in n.lower()), None)
    internal = next((n for n in names if "internal" in n.lower()), None)
    internal = internal or next((n for n in names if n != external), None)
    return {"internal": internal, "external": external}


def _reader_source(test_sets: dict, internal, reader: str):
    """The test set holding this reader's calls, preferring the internal one."""
    order = [internal] + [n for n in sorted(test_sets) if n != internal]
    for name in order:
        if name and reader in test_sets[name].get("readers", {}):
            return name
    return None


def compare_with_paper(summary: dict, reader_names: list | None = None) -> list:
    """Rows ``{"who", "metric", "paper", "ours", "ours_ci", "source"}`` pairing the paper's figures with ours.

    Test sets are matched by name ('internal'/'external'); ``reader_names`` gives our readers standing for
    surgeon 1 and 2 (default: reader names in sorted order). ``ours`` is None where we have no counterpart.
    """
    sets = summary.get("test_sets", {})
    picked = _pick_sets(sets)
    if reader_names is None:
        reader_names = sorted({r for s in sets.values() for r in s.get("readers", {})})
    rows = []
    for who, where, figures in PAPER:
        if who == "model":
            set_name, block = picked[where], None
            if set_name:
                block = sets[set_name]["units"]["segment"]["metrics"]
            source = f"test set {set_name!r}, segments" if set_name else "no matching test set"
        else:
            idx = int(who.split()[-1]) - 1
            reader = reader_names[idx] if idx < len(reader_names) else None
            set_name = _reader_source(sets, picked["internal"], reader) if reader else None
            block = sets[set_name]["readers"][reader]["vs_reference"]["metrics"] if set_name else None
            source = f"reader {reader!r}, test set {set_name!r}" if set_name else "no matching reader"
        for metric, paper_value in figures.items():
            entry = (block or {}).get(metric, {})
            rows.append(
                {
                    "who": f"{who}, {where} test" if who == "model" else who,
                    "metric": metric,
                    "paper": paper_value,
                    "ours": entry.get("value"),
                    "ours_ci": entry.get("ci"),
                    "source": source,
                }
            )
    return rows
