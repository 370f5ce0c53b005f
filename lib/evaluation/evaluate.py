"""``evaluate``: predictions + MRI reference (+ reader calls) -> summary.json and report.html.

Units: segment (primary), each level C2/3..C6/7, patient (positive if any segment; score = max).
CIs resample patients (cluster bootstrap); the same replicates serve every unit of a test set, so
intervals of one test set are mutually consistent. Validation rows only ever choose the threshold.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lib.core.atomic import write_json_atomic
from lib.core.errors import BadParameterError
from lib.evaluation import inputs
from lib.evaluation.report import write_report
from lib.evaluation.stats import brier_score, patient_weights, reliability_bins, select_threshold
from lib.evaluation.units import confident_errors, kang_kappas, reader_vs_model, unit_result

log = logging.getLogger(__name__)
CONFIDENCE = 0.95


def resolve_threshold(threshold, preds: list) -> dict:
    """Operating threshold: a number, a model card JSON path (its ``threshold``), or chosen on validation rows.

    Strings ``"youden"`` or ``"sensitivity:0.90"`` select on rows whose split is validation. Returns
    ``{"value", "source"}`` (plus the selection details when chosen on validation).
    """
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
        value, source = float(threshold), "fixed"
    elif str(threshold).lower().startswith(("youden", "sensitivity")):
        return _threshold_from_validation(str(threshold).lower(), preds)
    elif Path(str(threshold)).is_file():
        value, source = _threshold_from_card(Path(str(threshold))), f"model card {Path(str(threshold)).name}"
    else:
        raise BadParameterError(
            f"threshold {threshold!r} is not a number in [0, 1], a model card JSON file, "
            "'youden' or 'sensitivity:<target>'"
        )
    if not 0.0 <= value <= 1.0:
        raise BadParameterError(f"threshold {value} is not in [0, 1]")
    return {"value": value, "source": source}


def _threshold_from_card(path: Path) -> float:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        return float(card["threshold"])
    except (ValueError, KeyError, TypeError) as err:
        raise BadParameterError(f"{path.name}: no numeric 'threshold' in the model card ({err})") from err


def _threshold_from_validation(spec: str, preds: list) -> dict:
    val = [p for p in preds if p["split"] in inputs.VALIDATION_SPLITS and p["probability"] is not None]
    if not val:
        raise BadParameterError(f"threshold {spec!r} needs prediction rows with split 'validation'; there are none")
    method, _, target = spec.partition(":")
    try:
        target_sens = float(target) if target else 0.9
    except ValueError as err:
        raise BadParameterError(f"threshold {spec!r}: target sensitivity {target!r} is not a number") from err
    chosen = select_threshold([p["compression"] for p in val], [p["probability"] for p in val], method, target_sens)
    return {"value": chosen["threshold"], "source": chosen["description"], "selection": chosen}


def _test_sets(preds: list) -> dict:
    """Rows grouped by split, validation and training left out; a CSV without split is one set, 'test'."""
    sets = {}
    for p in preds:
        if p["split"] not in inputs.VALIDATION_SPLITS + inputs.TRAINING_SPLITS:
            sets.setdefault(p["split"], []).append(p)
    if not sets:
        raise BadParameterError("predictions have no test rows: every split is validation or training")
    return sets


def _model_units(rows: list, thr: float, weights, pids: dict, progress, name: str) -> tuple:
    """Segment, per-level and patient units for the model's evaluable rows of one test set.

    Returns ``(units, y, scores, evaluable_rows)``; y and scores have shape (n_evaluable,).
    """
    ev = [r for r in rows if r["probability"] is not None]
    y = np.array([r["compression"] for r in ev], dtype=int)
    s = np.array([r["probability"] for r in ev], dtype=float)
    pid = np.array([pids[r["patient_id"]] for r in ev], dtype=int)
    common = {"confidence": CONFIDENCE, "progress": progress}
    units = {"segment": unit_result(y, s >= thr, pid, weights, s, "segments", desc=f"{name} segments", **common)}
    seg = np.array([r["segment"] for r in ev])
    units["level"] = {
        lv: unit_result(
            y[seg == lv],
            s[seg == lv] >= thr,
            pid[seg == lv],
            weights,
            s[seg == lv],
            "segments",
            desc=f"{name} {lv}",
            **common,
        )
        for lv in inputs.SEGMENTS
        if (seg == lv).any()
    }
    n_pat = weights.shape[1]
    has = np.bincount(pid, minlength=n_pat) > 0
    y_pat = np.bincount(pid, weights=y, minlength=n_pat)[has] > 0
    s_pat = np.full(n_pat, -np.inf)
    np.maximum.at(s_pat, pid, s)
    units["patient"] = unit_result(
        y_pat,
        s_pat[has] >= thr,
        np.flatnonzero(has),
        weights,
        s_pat[has],
        "patients",
        desc=f"{name} patients",
        **common,
    )
    return units, y, s, ev


def _readers(calls: list, rows: list, thr: float, weights, pids: dict, progress) -> dict:
    """Each reader against the reference on the segments they read, and against the model on those both read."""
    by_key = {(r["patient_id"], r["segment"]): r for r in rows}
    out = {}
    for reader in sorted({c["reader"] for c in calls}):
        mine = [c for c in calls if c["reader"] == reader and (c["patient_id"], c["segment"]) in by_key]
        read = [c for c in mine if c["call"] is not None]
        if not mine:
            continue
        ref = [by_key[(c["patient_id"], c["segment"])] for c in read]
        y = np.array([r["compression"] for r in ref], dtype=int)
        call = np.array([c["call"] for c in read], dtype=int)
        pid = np.array([pids[r["patient_id"]] for r in ref], dtype=int)
        res = {
            "segments_read": len(read),
            "segments_not_read": len(mine) - len(read),
            "vs_reference": unit_result(
                y, call, pid, weights, None, "segments", CONFIDENCE, progress, f"reader {reader}"
            ),
        }
        both = np.array([r["probability"] is not None for r in ref], dtype=bool)
        prob = np.array([r["probability"] if r["probability"] is not None else -1.0 for r in ref])
        res["vs_model"] = reader_vs_model(y[both], call[both], (prob[both] >= thr).astype(int))
        graded = [(r["kang"], c["kang"]) for r, c in zip(ref, read) if r["kang"] is not None and c["kang"] is not None]
        if graded:
            res["kang_kappa"] = kang_kappas(*zip(*graded), confidence=CONFIDENCE)
        out[reader] = res
    return out


def _evaluate_set(name: str, rows: list, calls, thr: float, n_bootstrap: int, seed: int, progress: bool) -> dict:
    """Everything reported for one test set; ``calls`` are all reader calls (None without a readers CSV)."""
    patients = sorted({r["patient_id"] for r in rows})
    pids = {p: i for i, p in enumerate(patients)}
    weights = patient_weights(len(patients), n_bootstrap, seed)
    # One bar per test set across all its units: segments, 5 levels, patients, each reader.
    n_runs = 2 + len({r["segment"] for r in rows}) + len({c["reader"] for c in calls or [] if c["patient_id"] in pids})
    bar = tqdm(total=n_runs * n_bootstrap, desc=f"bootstrap {name}", unit="replicate", disable=not progress)
    progress = bar.update
    units, y, s, ev = _model_units(rows, thr, weights, pids, progress, name)
    not_evaluable = [f"{r['patient_id']}:{r['segment']}" for r in rows if r["probability"] is None]
    result = {
        "counts": {
            "patients": len(patients),
            "segments": len(rows),
            "evaluable_segments": len(ev),
            "not_evaluable_segments": len(not_evaluable),
            "positive_segments": int(y.sum()),
            "negative_segments": int(y.size - y.sum()),
            "positive_patients": units["patient"]["positives"],
        },
        "not_evaluable": not_evaluable,
        "units": units,
        "calibration": {"brier": brier_score(y, s), "bins": reliability_bins(y, s)} if y.size else None,
        "confident_errors": confident_errors([f"{r['patient_id']}:{r['segment']}" for r in ev], y, s, thr),
    }
    if calls is not None:
        result["readers"] = _readers(calls, rows, thr, weights, pids, progress)
    bar.close()
    return result


def evaluate(
    predictions_csv,
    reference_csv,
    out_dir,
    readers_csv=None,
    threshold=0.5,
    n_bootstrap: int = 2000,
    seed: int = 0,
    progress: bool = True,
    overlays: dict | None = None,
) -> dict:
    """Evaluate model probabilities (and reader calls) against the MRI reference; write summary.json and report.html.

    CSVs: ``patient_id, segment, probability[, split]`` / ``patient_id, segment, compression[, kang]`` /
    ``reader, patient_id, segment, call[, kang]``. ``threshold``: number, model card path, ``"youden"`` or
    ``"sensitivity:<t>"`` (chosen on validation rows). ``overlays`` maps ``"patient_id:segment"`` to a PNG.
    Returns the summary dict (also written to ``out_dir/summary.json``).
    """
    if n_bootstrap < 1:
        raise BadParameterError(f"n_bootstrap {n_bootstrap} must be at least 1 (2,000 recommended)")
    names = {
        "predictions": Path(predictions_csv).name,
        "reference": Path(reference_csv).name,
        "readers": Path(readers_csv).name if readers_csv else None,
    }
    reference = inputs.read_reference(reference_csv)
    preds = inputs.join_reference(
        inputs.read_predictions(predictions_csv), reference, names["predictions"], names["reference"]
    )
    calls = inputs.read_readers(readers_csv) if readers_csv else None
    if calls is not None:
        inputs.check_readers(calls, preds, reference, names)
    thr = resolve_threshold(threshold, preds)
    summary = {
        "inputs": names,
        "threshold": thr,
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "confidence": CONFIDENCE,
        "ci_method": "percentile, patient-level cluster bootstrap",
        "test_sets": {},
    }
    for name, rows in sorted(_test_sets(preds).items()):
        log.info("evaluating test set %r: %d segments", name, len(rows))
        summary["test_sets"][name] = _evaluate_set(name, rows, calls, thr["value"], n_bootstrap, seed, progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(summary, out / "summary.json")
    write_report(summary, out / "report.html", overlays=overlays)
    return summary
