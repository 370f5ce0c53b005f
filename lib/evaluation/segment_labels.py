"""Per-segment MRI reference labels from a CSV: parsing and validation, all rows checked before anything is used.

Columns (header names, case-insensitive): ``image_id`` or ``patient_id``; ``segment`` (C2/3 .. C6/7);
``compression`` (0/1) and/or ``kang`` (0-3). Without ``compression`` it is derived from ``kang`` at the
``kang_threshold`` (clinical.md: compression usually means Kang 2 or more); when both are given they must agree.
Every problem is collected with its row number and raised together as one ``BadInputError``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Mapping, Sequence

from lib.anatomy.names import SEGMENTS
from lib.core.errors import BadInputError
from lib.evaluation.inputs import MAX_LISTED, parse_grade

ID_COLUMNS = ("image_id", "patient_id")


def read_label_csv(path) -> tuple[str, list]:
    """(id column, ``[(row number, {column: text})]``) of a label CSV; checks the header only."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: file not found")
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    ids = [c for c in ID_COLUMNS if c in header]
    problems = []
    if len(ids) != 1:
        problems.append(f"needs exactly one of the columns {' or '.join(ID_COLUMNS)}")
    if "segment" not in header:
        problems.append("needs a segment column")
    if "compression" not in header and "kang" not in header:
        problems.append("needs a compression column, a kang column or both")
    if problems:
        raise BadInputError(f"{path.name}: {'; '.join(problems)}; found columns: {', '.join(header) or 'none'}")
    reader.fieldnames = header
    rows = [(i, {k: (v or "").strip() for k, v in r.items() if k}) for i, r in enumerate(reader, start=2)]
    if not rows:
        raise BadInputError(f"{path.name}: no data rows")
    return ids[0], rows


def _row_values(name: str, row: int, r: Mapping, kang_threshold: int, problems: list):
    """``{"compression", "kang", "evaluable"}`` for one row, or None when it has problems (added to ``problems``)."""
    before = len(problems)
    if r.get("segment", "") not in SEGMENTS:
        problems.append(f"{name} row {row}: segment {r.get('segment', '')!r} is not one of {', '.join(SEGMENTS)}")
    kang = parse_grade(name, "kang", r.get("kang", ""), row, problems, (0, 1, 2, 3), empty_ok=True)
    compression = parse_grade(name, "compression", r.get("compression", ""), row, problems, (0, 1), empty_ok=True)
    if len(problems) > before:
        return None
    if compression is None and kang is None:
        problems.append(f"{name} row {row}: neither compression nor kang is given")
        return None
    derived = None if kang is None else int(kang >= kang_threshold)
    if compression is not None and derived is not None and compression != derived:
        problems.append(
            f"{name} row {row}: compression {compression} disagrees with kang {kang} "
            f"(compression means kang >= {kang_threshold})"
        )
        return None
    return {"compression": derived if compression is None else compression, "kang": kang, "evaluable": True}


def parse_segment_labels(
    path, image_ids: Sequence[str], patients: Mapping[str, Sequence[str]], kang_threshold: int = 2
) -> dict:
    """``{"updates": {image_id: {segment: {"compression", "kang", "evaluable"}}}, "rows": n, "id_column": str}``.

    image_ids: ids in the datastore; patients: patient_id -> its image ids (a patient row labels each of them).
    Raises ``BadInputError`` listing every bad row (unknown id or segment, bad value, duplicate) by number.
    """
    name = Path(path).name
    id_column, rows = read_label_csv(path)
    known = set(image_ids)
    problems, updates, first_row = [], {}, {}
    for row, r in rows:
        key = r.get(id_column, "")
        if id_column == "image_id":
            targets = [key] if key in known else []
        else:
            targets = list(patients.get(key, []))
        if not targets:
            problems.append(f"{name} row {row}: {id_column} {key!r} is not in the datastore")
        values = _row_values(name, row, r, kang_threshold, problems)
        pair = (key, r.get("segment", ""))
        if pair in first_row:
            problems.append(f"{name} rows {first_row[pair]} and {row}: duplicate ({id_column}, segment) {pair}")
            continue
        first_row[pair] = row
        if values is not None:
            for image_id in targets:
                updates.setdefault(image_id, {})[pair[1]] = values
    if problems:
        more = len(problems) - MAX_LISTED
        shown = problems[:MAX_LISTED] + ([f"... and {more} more"] if more > 0 else [])
        raise BadInputError(f"{name}: {len(problems)} problem(s), nothing imported:\n  " + "\n  ".join(shown))
    return {"updates": updates, "rows": len(rows), "id_column": id_column}


def merge_segments(info: Mapping, new_segments: Mapping[str, Mapping]) -> dict:
    """An image's ``segments`` info with the new per-segment entries replacing old ones (others kept)."""
    merged = {k: dict(v) for k, v in ((info or {}).get("segments") or {}).items()}
    merged.update({k: dict(v) for k, v in new_segments.items()})
    return merged
