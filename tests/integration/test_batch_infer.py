"""``python main.py batch-infer`` on Ray with 2 local workers, as a user runs it: a folder with phantom films, a
broken file and a datastore's label folder; killed (``kill -9`` of its whole session, Ray's processes included)
after the first film, run again, and every film is done exactly once; then a DICOMweb archive on a real Orthanc with
the findings stored back into each study, once, however often the run is repeated."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from apps.batch.runner import done_counts
from apps.ops.orthanc import Orthanc
from apps.ops.server_process import free_port, kill_session
from apps.paths import APP_DIR
from lib.evaluation.inputs import read_predictions

RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def cohort(phantom_cohort, tmp_path_factory):
    return phantom_cohort(tmp_path_factory.mktemp("batch") / "studies", patients=3, seed=5)


def _command(*args) -> list[str]:
    return [sys.executable, str(APP_DIR / "main.py"), "batch-infer", "--workers", "2", *map(str, args)]


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=APP_DIR)


def test_a_killed_run_resumes_and_every_film_is_done_exactly_once(cohort, tmp_path):
    (cohort / "broken.png").write_text("not a film")
    out = tmp_path / "out"
    first = subprocess.Popen(
        _command("--folder", cohort, "--out", out),
        cwd=APP_DIR,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not done_counts(out) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        kill_session(first.pid)
        first.wait(timeout=30)
    killed_after = sum(done_counts(out).values())
    assert killed_after >= 1

    second = _run("--folder", cohort, "--out", out)
    report = json.loads((out / "report.json").read_text())
    assert report["already_done"] == killed_after and report["done"] == 3 - killed_after
    # The broken file failed in this run, or already in the killed one (then it is not tried again).
    refused = report["failed"] + report["refused_before"]
    assert [Path(f["source"]).name for f in refused] == ["broken.png"], refused
    assert "not a radiograph file" in refused[0]["reason"]
    assert second.returncode == (3 if report["failed"] else 0), second.stdout + second.stderr  # 3: a film failed
    done = done_counts(out)
    assert len(done) == 3 and set(done.values()) == {1}, done  # each film once, the label maps never
    for key in done:
        assert list((out / "results" / key).glob("*.json")) and list((out / "results" / key).glob("*_sr.dcm"))
    predictions = read_predictions(out / "summary.csv")  # what evaluate reads: a row per film and segment
    assert len(predictions) == 15 and {p["patient_id"] for p in predictions} == {"PH5-0000", "PH5-0001", "PH5-0002"}

    third = _run("--folder", cohort, "--out", out)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "0 done, 3 already done" in third.stdout
    assert "broken.png (earlier run" in third.stdout  # not tried again: it is not a film


def test_a_dicomweb_archive_gets_its_findings_stored_back_once(cohort, tmp_path):
    orthanc = Orthanc(tmp_path / "orthanc", free_port()).start()
    try:
        orthanc.upload_folder(cohort)
        out = tmp_path / "out"
        args = ("--dicomweb", orthanc.dicomweb_url, "--out", out, "--write-back", "--limit", "2")
        run = _run(*args)
        assert run.returncode == 0, run.stdout + run.stderr
        report = json.loads((out / "report.json").read_text())
        assert report["done"] == 2 and not report["failed"]
        modalities = Counter(s["00080060"]["Value"][0] for s in orthanc.get("/dicom-web/series"))
        assert modalities["SR"] == 2 and modalities["OT"] == 2  # each film's report and overlay, in its study
        again = _run(*args)
        assert again.returncode == 0 and "0 done, 2 already done" in again.stdout, again.stdout + again.stderr
        assert Counter(s["00080060"]["Value"][0] for s in orthanc.get("/dicom-web/series")) == modalities
    finally:
        orthanc.stop()
