"""The batch bookkeeping: keys, claims that exclude each other and survive a killed owner, done records."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lib.batch.results import ResultStore, file_key
from lib.batch.summary import COLUMNS, summary_rows, write_summary
from lib.evaluation.inputs import read_predictions
from tests.dicom_factory import make_dx, save


def test_a_dicom_film_is_keyed_by_its_sop_instance_uid_and_other_files_by_their_bytes(tmp_path):
    ds = make_dx(np.zeros((20, 10), np.uint16))
    dicom = save(ds, tmp_path / "a.dcm")
    assert file_key(dicom) == str(ds.SOPInstanceUID)
    png = tmp_path / "film.png"
    Image.fromarray(np.arange(200, dtype=np.uint8).reshape(20, 10)).save(png)
    expected = "sha256-" + hashlib.sha256(png.read_bytes()).hexdigest()[:32]
    assert file_key(png) == expected
    png.rename(tmp_path / "renamed.png")
    assert file_key(tmp_path / "renamed.png") == expected  # the same film under another name


def test_a_claim_excludes_a_second_taker_until_it_is_done(tmp_path):
    store = ResultStore(tmp_path)
    assert store.claim("1.2.3") and not store.claim("1.2.3")  # held by this live process
    store.finish("1.2.3", {"key": "1.2.3", "result": {}})
    assert store.is_done("1.2.3") and not store.claim("1.2.3")  # done: nobody takes it again
    assert store.done_record("1.2.3")["key"] == "1.2.3" and not list((tmp_path / "claims").iterdir())


def test_a_claim_of_a_killed_owner_is_taken_over(tmp_path):
    store = ResultStore(tmp_path)
    # Another process claims and dies without finishing (as under kill -9).
    code = f"from lib.batch.results import ResultStore; assert ResultStore({str(tmp_path)!r}).claim('1.2.4')"
    subprocess.run([sys.executable, "-c", code], check=True)
    owner = json.loads((tmp_path / "claims" / "1.2.4" / "owner.json").read_text())
    assert owner["pid"] != os.getpid()
    assert store.claim("1.2.4")  # its owner is gone: the claim is stale


def test_an_old_claim_is_stale_even_when_its_owner_looks_alive(tmp_path):
    assert ResultStore(tmp_path).claim("1.2.5")
    assert not ResultStore(tmp_path).claim("1.2.5")
    assert ResultStore(tmp_path, stale_after_s=-1).claim("1.2.5")


def test_a_failure_is_kept_until_the_film_is_done(tmp_path):
    store = ResultStore(tmp_path)
    assert store.claim("1.2.6")
    store.fail("1.2.6", {"key": "1.2.6", "reason": "server away", "retry": True})
    assert [r["reason"] for r in store.failed_records()] == ["server away"] and store.claim("1.2.6")
    store.finish("1.2.6", {"key": "1.2.6"})
    assert store.failed_records() == []


@pytest.mark.parametrize("key", ["../x", "/abs", ".hidden", "a/b", "", "x" * 200, "a\x00b"])
def test_a_key_that_could_leave_the_folder_is_refused(tmp_path, key):
    with pytest.raises(ValueError, match="is not a SOPInstanceUID"):
        ResultStore(tmp_path).claim(key)


def _record(key, patient, probabilities):
    segments = {s: {"probability": p, "decision": "compressed" if p and p > 0.5 else None} for s, p in probabilities}
    return {"key": key, "source": f"/films/{key}.dcm", "patient_id": patient, "result": {"segments": segments}}


def test_the_summary_has_a_row_per_film_and_segment_that_evaluate_reads(tmp_path):
    records = [
        _record("1.1", "P1", [("C2/3", 0.9), ("C3/4", None)]),
        _record("1.2", "P2", [("C2/3", 0.1)]),
        _record("1.3", "P2", [("C2/3", 0.2)]),  # a second film of P2
        _record("sha256-ab", "", [("C4/5", 0.7)]),  # a PNG: no patient id
    ]
    rows = summary_rows(records)
    assert len(rows) == 4 * 5  # every segment of every film, assessed or not
    patients = {r[4]: r[0] for r in rows}
    assert patients == {"1.1": "P1", "1.2": "P2/1.2", "1.3": "P2/1.3", "sha256-ab": "sha256-ab"}
    first = {r[1]: r for r in rows if r[4] == "1.1"}
    assert first["C2/3"][2] == "0.900000" and first["C2/3"][6] == "compressed" and first["C3/4"][2] == ""
    path = tmp_path / "summary.csv"
    assert write_summary(path, records) == 20
    assert path.read_text().splitlines()[0].split(",") == COLUMNS
    predictions = read_predictions(path)
    assert len(predictions) == 20 and {p["split"] for p in predictions} == {"test"}
