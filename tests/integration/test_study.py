"""The study's inputs: CSVs the evaluation reads, the rule as a reader, the logistic baseline against the network."""

import csv

import numpy as np

from apps.cli.study import RULE_READER, logistic_baseline, write_inputs
from lib.anatomy.names import SEGMENTS


def _result(rng, canal_mm, probability):
    levels = {
        lv: {"canal_diameter_mm": canal_mm, "torg_pavlov_ratio": canal_mm / 16.0}
        for lv in ("C2", "C3", "C4", "C5", "C6", "C7")
    }
    disc = {"disc_height_middle_mm": 5.0 + rng.normal(0, 0.3), "listhesis_pct": 0.0}
    return {
        "segments": {
            s: {"probability": probability, "measurements": {"levels": levels, "disc": disc}} for s in SEGMENTS
        }
    }


def _rows(n_per_split=20, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for split in ("validation", "test_internal", "test_external"):
        for i in range(n_per_split):
            positive = i % 2
            canal = (12.5 if positive else 15.0) + rng.normal(0, 2.0)
            probability = float(np.clip(0.4 * positive + 0.3 + rng.normal(0, 0.25), 0, 1))
            info = {"segments": {s: {"compression": positive, "kang": 2 * positive} for s in SEGMENTS}}
            rows.append(
                {
                    "image_id": f"{split}{i}",
                    "patient_id": f"{split}-P{i}",
                    "split": split,
                    "info": info,
                    "result": _result(rng, canal, probability),
                }
            )
    rows[0]["result"] = None  # an image the pipeline could not read
    return rows


def test_inputs_are_written_with_the_rule_as_a_reader(tmp_path):
    paths = write_inputs(_rows(), tmp_path, kang_threshold=2)
    with open(paths["predictions"]) as f:
        predictions = list(csv.DictReader(f))
    assert len(predictions) == 60 * len(SEGMENTS)
    assert all(p["probability"] == "" for p in predictions if p["patient_id"] == "validation-P0")
    with open(paths["readers"]) as f:
        readers = list(csv.DictReader(f))
    assert {r["reader"] for r in readers} == {RULE_READER}
    assert not any(r["patient_id"].startswith("validation") for r in readers)  # readers are scored on test sets
    canal_by_patient = {
        r["patient_id"]: r["result"]["segments"]["C3/4"]["measurements"]["levels"]["C3"]["canal_diameter_mm"]
        for r in _rows()
        if r["result"]
    }
    for reader_row in (r for r in readers if r["segment"] == "C3/4"):
        expected = int(canal_by_patient[reader_row["patient_id"]] < 13.0)  # TPR = canal / 16 adds nothing above 12.8
        assert reader_row["call"] == str(expected)


def test_logistic_baseline_is_fitted_on_validation_and_compared_by_delong(tmp_path):
    rows = _rows()
    paths = write_inputs(rows, tmp_path, kang_threshold=2)
    result = logistic_baseline(rows, paths["reference"])
    assert result["fitted_on"].endswith("validation segments")
    for split in ("test_internal", "test_external"):
        assert 0.5 < result[split]["auc_logistic"] <= 1.0 and 0.0 <= result[split]["delong_p"] <= 1.0
        assert result[split]["segments"] == 20 * len(SEGMENTS)
