"""``watch --once`` on a real Orthanc with the shipped models: the findings of each new DX film are stored into
its own study, a film is never processed twice however often the watcher is started again, a film stored later is
the only one the next start processes, the app's own write-backs (SEG, SR, overlay) are never taken as input, and
a server that is away is waited for. The restarts are new ``Watcher`` objects reading the state folder (the models
are loaded once for the module, as the command loads them once per process); the command itself runs as a user
runs it for the poll that finds nothing new and for a refused state folder."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pydicom
import pytest

from apps.batch.runner import done_counts
from apps.batch.watch import Watcher, watch
from apps.cli.predict import build_pipeline
from apps.ops.orthanc import Orthanc
from apps.ops.server_process import free_port
from apps.paths import APP_DIR
from lib.io.series import REPORT_DESCRIPTION
from tests.dicom_factory import phantom_source

RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    folder = tmp_path_factory.mktemp("watch_films")
    return [phantom_source(folder, seed=23, index=i)[1] for i in range(3)]


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline({}, APP_DIR)[0]


def _watch(url, out, *extra) -> subprocess.CompletedProcess:
    command = [sys.executable, str(APP_DIR / "main.py"), "watch", "--studies", url, "--out", str(out), "--once"]
    return subprocess.run([*command, *extra], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=APP_DIR)


def _once(url, out, pipeline, **options) -> dict:
    return watch(Watcher(url, out, {}, pipeline=pipeline, **options), poll_seconds=1, once=True)


def _series_by_study(orthanc) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for series in orthanc.get("/dicom-web/series?includefield=0008103E"):
        study = series["0020000D"]["Value"][0]
        modality = series["00080060"]["Value"][0]
        description = (series.get("0008103E", {}).get("Value") or [""])[0]
        out.setdefault(study, Counter())[(modality, description)] += 1
    return out


def test_watch_stores_findings_of_each_new_film_into_its_study_once(films, pipeline, tmp_path, caplog):
    port = free_port()
    orthanc = Orthanc(tmp_path / "orthanc", port).start()
    url, out = orthanc.dicomweb_url, tmp_path / "watch"
    studies = [str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID) for p in films]
    try:
        for path in films[:2]:
            orthanc.upload_file(path)
        first = _once(url, out, pipeline)
        assert (first["feed"], first["done"], first["series"], first["failed"]) == ("orthanc", 2, 2, [])
        stored = _series_by_study(orthanc)
        for study in studies[:2]:
            assert stored[study][("SR", REPORT_DESCRIPTION)] == 1, stored[study]  # the findings, in the film's study
            assert stored[study][("DX", "C-SPINE LAT")] == 1
        state = json.loads((out / "watch_state.json").read_text())
        assert state["feed"] == "orthanc" and state["cursor"] > 0 and not state["retry"]

        # Started again: our own SEG/SR/overlay series are new series in the feed, and none of them is input.
        again = _watch(url, out)
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.startswith("0 done, 0 already done, 0 failed, 0 series read, 6 not radiographs"), (
            again.stdout
        )
        assert _series_by_study(orthanc) == stored
        # A QIDO watcher started now leaves the films already there alone.
        assert _once(url, tmp_path / "qido", pipeline, feed="qido", from_now=True, write_back=False)["series"] == 0

        # A film stored while the server then goes away: the watcher waits, says so, and goes on when it is back.
        orthanc.upload_file(films[2])
        orthanc.stop()
        result: dict = {}
        caplog.set_level(logging.WARNING, logger="apps.batch.worker")
        runner = threading.Thread(target=lambda: result.update(_once(url, out, pipeline)), daemon=True)
        runner.start()
        deadline = time.monotonic() + 60
        while "not reachable" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.2)  # polling for the watcher's first retry message, bounded by the deadline
        assert f"DICOMweb server http://127.0.0.1:{port} not reachable" in caplog.text
        orthanc = Orthanc(tmp_path / "orthanc", port).start()  # the same storage: the film is still there
        runner.join(timeout=RUN_TIMEOUT_S)
        assert (result["done"], result["series"], result["failed"]) == (1, 1, []), result
        assert _series_by_study(orthanc)[studies[2]][("SR", REPORT_DESCRIPTION)] == 1
        done = done_counts(out)
        assert len(done) == 3 and set(done.values()) == {1}, done
        assert len((out / "summary.csv").read_text().splitlines()) == 1 + 3 * 5  # header, 5 segments per film

        # Without the change feed (QIDO listings), into another folder started before the third film: that film only.
        qido = _once(url, tmp_path / "qido", pipeline, feed="qido", write_back=False)
        assert (qido["feed"], qido["done"], qido["series"], qido["failed"]) == ("qido", 1, 1, [])
        assert _once(url, tmp_path / "qido", pipeline, feed="qido", write_back=False)["series"] == 0
        assert _series_by_study(orthanc)[studies[2]][("SR", REPORT_DESCRIPTION)] == 1  # nothing stored twice
    finally:
        orthanc.stop()


def test_a_state_folder_of_another_server_is_refused_naming_both(tmp_path):
    out = tmp_path / "watch"
    out.mkdir()
    (out / "watch_state.json").write_text(json.dumps({"server": "http://pacs:8042/dicom-web", "feed": "orthanc"}))
    run = _watch("http://127.0.0.1:9/dicom-web", out, "--feed", "orthanc")
    assert run.returncode == 2
    assert "follows http://pacs:8042/dicom-web, not http://127.0.0.1:9/dicom-web" in run.stderr, run.stderr


def test_a_server_that_is_away_is_waited_for_and_ctrl_c_stops_the_watcher(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/dicom-web"  # nothing listens there
    command = [sys.executable, str(APP_DIR / "main.py"), "watch", "--studies", url, "--out", str(tmp_path / "w")]
    process = subprocess.Popen(command, cwd=APP_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line, deadline = "", time.monotonic() + RUN_TIMEOUT_S
        while "not reachable" not in line and time.monotonic() < deadline and process.poll() is None:
            line = process.stderr.readline()
        assert f"DICOMweb server {url.rsplit('/', 1)[0]} not reachable" in line and "retrying in" in line, line
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and out.startswith("stopped;"), out
