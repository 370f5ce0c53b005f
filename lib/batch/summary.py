"""What a batch run leaves for people and for ``python main.py evaluate``: a CSV with one row per film and segment.

Columns: ``patient_id, segment, probability, split`` (what ``lib.evaluation.inputs.read_predictions`` reads; an
empty probability is a segment that could not be assessed), then ``key, source, decision, reason``. ``patient_id``
is the film's DICOM PatientID when every film of the run has its own; a patient with several films (or a film
without one) is told apart by its key (``<PatientID>/<key>``), because the evaluation counts one film per patient.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lib.anatomy.names import SEGMENTS
from lib.core.atomic import write_csv_atomic

COLUMNS = ["patient_id", "segment", "probability", "split", "key", "source", "decision", "reason"]


def summary_rows(records: list[dict], split: str = "test") -> list[list[str]]:
    """Rows for the done records (``{"key", "source", "patient_id", "result"}``), ordered by key and segment."""
    patients = Counter(r.get("patient_id") for r in records if r.get("patient_id"))
    rows = []
    for record in sorted(records, key=lambda r: r["key"]):
        patient = record.get("patient_id") or ""
        if not patient or patients[patient] > 1:
            patient = f"{patient}/{record['key']}" if patient else record["key"]
        segments = (record.get("result") or {}).get("segments") or {}
        for segment in SEGMENTS:
            entry = segments.get(segment) or {}
            p = entry.get("probability")
            rows.append(
                [
                    patient,
                    segment,
                    "" if p is None else f"{float(p):.6f}",
                    split,
                    record["key"],
                    str(record.get("source", "")),
                    str(entry.get("decision") or ""),
                    str(entry.get("reason") or ""),
                ]
            )
    return rows


def write_summary(path: Path, records: list[dict], split: str = "test") -> int:
    """Write the CSV atomically; the number of rows."""
    rows = summary_rows(records, split)
    write_csv_atomic(path, COLUMNS, rows)
    return len(rows)
