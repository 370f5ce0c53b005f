"""Reading and cross-checking the evaluation CSVs: predictions, MRI reference, reader calls.

Every problem is a ``BadInputError`` naming the file, the row number(s) (the header is row 1, as a
spreadsheet shows it) and the bad value. An empty ``probability`` (or reader ``call``) cell means the
segment was not evaluable for that rater: it is counted and listed, never guessed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from lib.anatomy.names import SEGMENTS
from lib.core.errors import BadInputError

VALIDATION_SPLITS = ("validation", "val", "valid")
TRAINING_SPLITS = ("train", "training")
MAX_LISTED = 10  # problems listed in one message; the rest are counted


def _fail(problems: list) -> None:
    if problems:
        extra = f"\n... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise BadInputError("\n".join(problems[:MAX_LISTED]) + extra)


def read_rows(path, required: tuple, optional: tuple = ()) -> list:
    """Rows of a CSV as ``(row_number, {column: stripped text})``; checks the file and its columns."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise BadInputError(
                f"{path.name}: missing column(s) {', '.join(missing)}; "
                f"found: {', '.join(header) or 'no header'}; needed: {', '.join(required)}"
            )
        reader.fieldnames = header
        keep = required + tuple(c for c in optional if c in header)
        rows = [(i, {c: (r.get(c) or "").strip() for c in keep}) for i, r in enumerate(reader, start=2)]
    if not rows:
        raise BadInputError(f"{path.name}: no data rows")
    return rows


def _segment(name: str, value: str, row: int, problems: list) -> None:
    if value not in SEGMENTS:
        problems.append(f"{name} row {row}: segment {value!r} is not one of {', '.join(SEGMENTS)}")


def parse_probability(name: str, value: str, row: int, problems: list):
    """Float in [0, 1]; None for an empty cell (not evaluable)."""
    if value == "":
        return None
    try:
        p = float(value)
    except ValueError:
        p = math.nan
    if not 0.0 <= p <= 1.0:  # also false for NaN
        problems.append(f"{name} row {row}: probability {value!r} is not a number in [0, 1]")
        return None
    return p


def parse_grade(name: str, column: str, value: str, row: int, problems: list, allowed: tuple, empty_ok=False):
    """Integer grade from ``allowed`` (e.g. 0/1, or Kang 0-3); None for an allowed empty cell."""
    if value == "" and empty_ok:
        return None
    try:
        g = int(float(value)) if float(value).is_integer() else None
    except ValueError:
        g = None
    if g not in allowed:
        problems.append(f"{name} row {row}: {column} {value!r} is not one of {', '.join(map(str, allowed))}")
    return g


def _check_duplicates(name: str, keyed: list, what: str, problems: list) -> None:
    """``keyed`` is [(key, row)]; every key seen twice is reported with both rows."""
    first = {}
    for key, row in keyed:
        if key in first:
            problems.append(f"{name} rows {first[key]} and {row}: duplicate {what} {key}")
        else:
            first[key] = row


def read_reference(path) -> dict:
    """MRI reference: ``{(patient_id, segment): {"compression": 0/1, "kang": 0-3 or None, "row": int}}``."""
    name = Path(path).name
    rows = read_rows(path, ("patient_id", "segment", "compression"), ("kang",))
    problems, out = [], {}
    for row, r in rows:
        _segment(name, r["segment"], row, problems)
        comp = parse_grade(name, "compression", r["compression"], row, problems, (0, 1))
        kang = parse_grade(name, "kang", r.get("kang", ""), row, problems, (0, 1, 2, 3), empty_ok=True)
        out.setdefault((r["patient_id"], r["segment"]), {"compression": comp, "kang": kang, "row": row})
    _check_duplicates(name, [((r["patient_id"], r["segment"]), i) for i, r in rows], "(patient_id, segment)", problems)
    _fail(problems)
    return out


def read_predictions(path) -> list:
    """Model output: ``[{"patient_id", "segment", "probability" (None = not evaluable), "split", "row"}]``."""
    name = Path(path).name
    rows = read_rows(path, ("patient_id", "segment", "probability"), ("split",))
    problems, out = [], []
    for row, r in rows:
        _segment(name, r["segment"], row, problems)
        prob = parse_probability(name, r["probability"], row, problems)
        split = r.get("split", "test").lower() or None
        if split is None:
            problems.append(f"{name} row {row}: split is empty")
        out.append(
            {"patient_id": r["patient_id"], "segment": r["segment"], "probability": prob, "split": split, "row": row}
        )
    _check_duplicates(
        name, [((p["patient_id"], p["segment"]), p["row"]) for p in out], "(patient_id, segment)", problems
    )
    _check_one_split_per_patient(name, out, problems)
    _fail(problems)
    return out


def _check_one_split_per_patient(name: str, preds: list, problems: list) -> None:
    """A patient in two splits is leakage between partitions (STARD/CLAIM): refuse it."""
    seen = {}
    for p in preds:
        first = seen.setdefault(p["patient_id"], p)
        if first["split"] != p["split"]:
            problems.append(
                f"{name} rows {first['row']} and {p['row']}: patient_id {p['patient_id']!r} is in split "
                f"{first['split']!r} and split {p['split']!r}; a patient belongs to one split"
            )
            seen[p["patient_id"]] = p


def read_readers(path) -> list:
    """Reader calls: ``[{"reader", "patient_id", "segment", "call" (0/1, None = not read), "kang", "row"}]``."""
    name = Path(path).name
    rows = read_rows(path, ("reader", "patient_id", "segment", "call"), ("kang",))
    problems, out = [], []
    for row, r in rows:
        if not r["reader"]:
            problems.append(f"{name} row {row}: reader is empty")
        _segment(name, r["segment"], row, problems)
        call = parse_grade(name, "call", r["call"], row, problems, (0, 1), empty_ok=True)
        kang = parse_grade(name, "kang", r.get("kang", ""), row, problems, (0, 1, 2, 3), empty_ok=True)
        out.append(
            {
                "reader": r["reader"],
                "patient_id": r["patient_id"],
                "segment": r["segment"],
                "call": call,
                "kang": kang,
                "row": row,
            }
        )
    _check_duplicates(
        name,
        [((c["reader"], c["patient_id"], c["segment"]), c["row"]) for c in out],
        "(reader, patient_id, segment)",
        problems,
    )
    _fail(problems)
    return out


def join_reference(preds: list, reference: dict, pred_name: str, ref_name: str) -> list:
    """Each prediction with its reference ``compression`` and ``kang``; every mismatch either way is reported.

    Reference patients absent from the predictions are allowed (the reference may cover training patients);
    a patient that is present must have a prediction row for each of its reference segments.
    """
    problems = []
    ref_patients = {pid for pid, _ in reference}
    for p in preds:
        key = (p["patient_id"], p["segment"])
        if key in reference:
            p.update(compression=reference[key]["compression"], kang=reference[key]["kang"])
        elif p["patient_id"] not in ref_patients:
            problems.append(
                f"{pred_name} row {p['row']}: patient_id {p['patient_id']!r} matches no patient in {ref_name}"
            )
        else:
            problems.append(
                f"{pred_name} row {p['row']}: patient_id {p['patient_id']!r}, segment {p['segment']!r} "
                f"has no row in {ref_name}"
            )
    have = {(p["patient_id"], p["segment"]) for p in preds}
    patients = {pid for pid, _ in have}
    for (pid, seg), r in reference.items():
        if pid in patients and (pid, seg) not in have:
            problems.append(
                f"{pred_name} has no row for patient_id {pid!r}, segment {seg!r} ({ref_name} row {r['row']})"
            )
    _fail(problems)
    return preds


def check_readers(calls: list, preds: list, reference: dict, names: dict) -> None:
    """Every reader call must be on a reference segment of a patient in a test split of the predictions."""
    split_of = {p["patient_id"]: p["split"] for p in preds}
    problems = []
    for c in calls:
        where = f"{names['readers']} row {c['row']}: patient_id {c['patient_id']!r}"
        if (c["patient_id"], c["segment"]) not in reference:
            problems.append(f"{where}, segment {c['segment']!r} has no row in {names['reference']}")
        elif c["patient_id"] not in split_of:
            problems.append(f"{where} is not in {names['predictions']}; readers are scored on the test sets")
        elif split_of[c["patient_id"]] in VALIDATION_SPLITS + TRAINING_SPLITS:
            problems.append(f"{where} is in split {split_of[c['patient_id']]!r}; readers are scored on test sets")
    _fail(problems)
