"""``watch``: follow a DICOMweb server and run the batch pipeline on every new CR/DX series, once, storing the
findings back into the series' study.

New series come from Orthanc's change feed (``GET <root>/changes?since=N``, ``<root>`` the REST root above the
DICOMweb URL) when the server is Orthanc, else from a QIDO series listing compared with the series already seen.
Each film goes through ``apps.batch.worker.film_outcome`` (the pipeline of ``predict`` and ``batch-infer``, the
same STOW-RS write-back) into a ``lib.batch.results.ResultStore`` keyed by SOPInstanceUID, so a film is done once
however often it is announced. The feed's position is kept by ``lib.batch.watch_state``. The models are loaded
in this process on the first film (a poll that finds nothing new loads nothing) and kept for the next polls.

A server that cannot be reached is waited for, with a log line per retry, and the watcher goes on where it was.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Optional

from apps.batch.runner import append_event
from apps.batch.sources import Film, qido_filters, qido_value, series_films
from apps.batch.worker import film_outcome, with_retry
from apps.paths import APP_DIR
from lib.batch.results import ResultStore
from lib.batch.summary import write_summary
from lib.batch.watch_state import (
    feed_was_reset,
    is_radiograph_series,
    load_state,
    new_series_changes,
    orthanc_answer,
    rest_root,
    save_state,
    saved_feed,
)

logger = logging.getLogger(__name__)

CHANGES_PAGE = 100
FOREVER = float("inf")  # a watcher waits for its server however long it is away


class Watcher:
    """One DICOMweb server followed into one output folder (see the module doc)."""

    def __init__(
        self,
        url: str,
        out_dir: Path,
        conf: dict,
        modalities: tuple[str, ...] = ("CR", "DX"),
        feed: str = "auto",
        write_back: bool = True,
        from_now: bool = False,
        retry_for_s: float = FOREVER,
        pipeline=None,
    ):
        import requests
        from dicomweb_client.api import DICOMwebClient
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.root = rest_root(self.url)
        self.out_dir = Path(out_dir)
        self.conf = conf
        self.modalities = tuple(m.upper() for m in modalities)
        self.write_back = write_back
        self.retry_for_s = retry_for_s
        self.session = requests.Session()
        # Orthanc closes an idle kept-alive connection after about a second; a GET on it is sent again at once.
        self.session.mount("http://", HTTPAdapter(max_retries=Retry(total=2, connect=0, backoff_factor=0)))
        self.session.mount("https://", HTTPAdapter(max_retries=Retry(total=2, connect=0, backoff_factor=0)))
        self.client = DICOMwebClient(url=self.url)
        # dicomweb-client retries a refused connection for about 30 s without a word; with_retry says so instead.
        self.client.set_http_retry_params(retry=False)
        self.store = ResultStore(self.out_dir)
        self.events = self.out_dir / "events.jsonl"
        if feed == "auto":  # a folder that follows a server already goes on with the feed it was written from
            feed = saved_feed(self.out_dir) or self._detect_feed()
        self.feed = feed
        self.state = load_state(self.out_dir, self.url, self.feed)
        self._pipeline = pipeline  # the pipeline infer task, when the caller holds one already; else built on demand
        self.report = {"feed": self.feed, "done": 0, "already_done": 0, "failed": [], "series": 0, "skipped_series": 0}
        if from_now and not os.path.exists(self.out_dir / "watch_state.json"):
            self._start_at_the_end()

    # The server -----------------------------------------------------------------------------------------------

    def _get(self, path: str, what: str, missing_ok: bool = False) -> Optional[dict]:
        """JSON of ``GET <root><path>``, retried while the server is away; None for a 404 when ``missing_ok``."""

        def call():
            answer = self.session.get(f"{self.root}{path}", timeout=30)
            if missing_ok and answer.status_code == 404:
                return None
            answer.raise_for_status()
            return answer.json()

        return with_retry(call, what, self.root, self.retry_for_s)

    def _detect_feed(self) -> str:
        def call():
            answer = self.session.get(f"{self.root}/system", timeout=30)
            if answer.status_code >= 500:
                answer.raise_for_status()  # an outage, retried; a 404 or HTML page means "not Orthanc"
            try:
                return "orthanc" if answer.ok and orthanc_answer(answer.json()) else "qido"
            except ValueError:
                return "qido"

        feed = with_retry(call, "is it Orthanc", self.root, self.retry_for_s)
        logger.info("%s: following %s", self.url, "Orthanc's change feed" if feed == "orthanc" else "QIDO listings")
        return feed

    def _start_at_the_end(self) -> None:
        """``--from-now``: what the server holds already is left alone; only what arrives from now on is read."""
        if self.feed == "orthanc":
            self.state.cursor = int(self._get("/changes?last", "change feed")["Last"])
        else:
            for study, series, _ in self._qido_series():
                self.state.mark_seen(series)
        save_state(self.out_dir, self.state)

    # One poll -------------------------------------------------------------------------------------------------

    def poll(self) -> dict:
        """Handle everything new since the last poll (and the series held for a retry); this poll's counts."""
        before = {k: (len(v) if isinstance(v, list) else v) for k, v in self.report.items()}
        for held in list(self.state.retry):
            logger.info("series %s: trying again (%s)", held["series"], held["reason"])
            self.state.retried(held["series"])
            self._series(held["study"], held["series"], "")
            save_state(self.out_dir, self.state)
        if self.feed == "orthanc":
            self._poll_changes()
        else:
            self._poll_qido()
        write_summary(self.out_dir / "summary.csv", self.store.done_records())
        return {k: (len(v) if isinstance(v, list) else v) - before[k] for k, v in self.report.items() if k != "feed"}

    def _poll_changes(self) -> None:
        while True:
            page = self._get(f"/changes?since={self.state.cursor}&limit={CHANGES_PAGE}", "change feed")
            last, done = int(page.get("Last", 0)), bool(page.get("Done", True))
            if feed_was_reset(self.state.cursor, last, done):
                logger.warning(
                    "%s: the change feed ends at %d, before %d read here (a new database?); reading it from the start "
                    "(films already done are not done again)",
                    self.root,
                    last,
                    self.state.cursor,
                )
                self.state.cursor = 0
                continue
            for change in new_series_changes(page.get("Changes") or []):
                self._orthanc_series(change["ID"])
                self.state.cursor = int(change["Seq"])
                save_state(self.out_dir, self.state)
            self.state.cursor = max(self.state.cursor, last)
            save_state(self.out_dir, self.state)
            if done:
                return

    def _orthanc_series(self, orthanc_id: str) -> None:
        info = self._get(f"/series/{orthanc_id}", "series", missing_ok=True)
        if info is None:
            return  # deleted since it was announced
        tags = info.get("MainDicomTags") or {}
        if not is_radiograph_series(
            str(tags.get("Modality", "")),
            self.modalities,
            str(tags.get("SeriesDescription", "")),
            str(tags.get("Manufacturer", "")),
        ):
            self.report["skipped_series"] += 1
            return
        study = self._get(f"/studies/{info['ParentStudy']}", "study", missing_ok=True)
        if study is None:
            return
        patient = str((study.get("PatientMainDicomTags") or {}).get("PatientID", ""))
        self._series(str(study["MainDicomTags"]["StudyInstanceUID"]), str(tags["SeriesInstanceUID"]), patient)

    def _qido_series(self) -> list[tuple[str, str, str]]:
        """(study, series, patient) of every input series the server lists, in series order."""
        found = {}
        for query in qido_filters(self.modalities):
            fields = ["PatientID", "StudyInstanceUID", "SeriesDescription", "Manufacturer"]
            for item in with_retry(
                lambda q=query: self.client.search_for_series(search_filters=q, fields=fields),
                "QIDO search",
                self.url,
                self.retry_for_s,
            ):
                study, series = qido_value(item, "0020000D"), qido_value(item, "0020000E")
                if (
                    study
                    and series
                    and is_radiograph_series(
                        qido_value(item, "00080060") or query["Modality"],
                        self.modalities,
                        qido_value(item, "0008103E"),
                        qido_value(item, "00080070"),
                    )
                ):
                    found[series] = (study, series, qido_value(item, "00100020"))
        return [found[k] for k in sorted(found)]

    def _poll_qido(self) -> None:
        for study, series, patient in self._qido_series():
            if self.state.seen(series):
                continue
            self._series(study, series, patient)
            self.state.mark_seen(series)
            save_state(self.out_dir, self.state)

    # One series, film by film -----------------------------------------------------------------------------------

    def _series(self, study: str, series: str, patient: str) -> None:
        films = with_retry(
            lambda: series_films(self.client, self.url, study, series, patient),
            "QIDO search",
            self.url,
            self.retry_for_s,
        )
        self.report["series"] += 1
        refused = {r["key"] for r in self.store.failed_records() if not r.get("retry", True)}
        for film in films:
            if self.store.is_done(film.key) or film.key in refused:
                self.report["already_done"] += 1
                continue
            if not self.store.claim(film.key):  # another watcher or batch run on this folder holds it now
                self.state.hold_for_retry(study, series, "a film of it was held by another run")
                continue
            reason = self._film(film)
            if reason:
                self.state.hold_for_retry(study, series, reason)

    def _film(self, film: Film) -> str:
        """Process one claimed film; the reason to try its series again, or "" (done, or refused for itself)."""
        try:
            folder = self.store.result_dir(film.key)
            status, record = film_outcome(self.pipeline, film, folder, self.client, self.url, self.write_back)
        except BaseException:  # Ctrl-C: the film is neither done nor failed, and nobody holds it
            self.store.release(film.key)
            raise
        retry = record["reason"] if status == "failed" and record["retry"] else ""
        if status == "done":
            self.store.finish(film.key, record)
            self.report["done"] += 1
            logger.info("%s: done, findings %s", film.source, "stored" if record["stored_series"] else "kept here")
        else:
            self.store.fail(film.key, record)
            self.report["failed"].append(record)
            logger.error("%s: %s", film.source, record["reason"])
        append_event(self.events, {"key": film.key, "status": status, "pid": os.getpid(), "time": time.time()})
        return retry

    def pipeline(self):
        if self._pipeline is None:
            from apps.cli.predict import build_pipeline

            self._pipeline, _ = build_pipeline(self.conf, APP_DIR)
        return self._pipeline


def watch(watcher: Watcher, poll_seconds: float, once: bool, stop: Optional[threading.Event] = None) -> dict:
    """Poll until ``stop`` is set (or once); the watcher's report. Ctrl-C between or inside polls ends it with the
    state saved: the series being processed is read again by the next run, its finished films skipped."""
    stop = stop or threading.Event()
    while True:
        counts = watcher.poll()
        if counts["done"] or counts["failed"]:
            logger.info("poll: %d films done, %d failed", counts["done"], counts["failed"])
        if once or stop.wait(poll_seconds):
            return watcher.report
