"""One film through the pipeline, as a batch worker does it: the same ``predict_one`` as ``python main.py predict``
(and so the same answer as the server), a DICOMweb film fetched first, the findings stored back when asked.

A DICOMweb server that goes away is waited for: each call is retried with a growing pause and a log line that
says so, for up to ``RETRY_FOR_S``; then the film fails with that reason and the run goes on.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from apps.batch.sources import Film

logger = logging.getLogger(__name__)

RETRY_FOR_S = 600.0
RETRY_PAUSES_S = (2, 5, 10, 20, 30, 60)


def with_retry(call, what: str, url: str, retry_for_s: float = RETRY_FOR_S, pauses_s=RETRY_PAUSES_S):
    """``call()``, retried while the DICOMweb server cannot be reached (connection errors, 5xx)."""
    import requests

    deadline, attempt = time.monotonic() + retry_for_s, 0
    while True:
        try:
            return call()
        except requests.RequestException as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status is not None and status < 500:
                raise  # the server answered: refusing this request is not an outage
            pause = pauses_s[min(attempt, len(pauses_s) - 1)]
            if time.monotonic() + pause > deadline:
                raise RuntimeError(f"DICOMweb server {url} not reachable for {retry_for_s:.0f} s ({what}): {exc}")
            logger.warning("DICOMweb server %s not reachable (%s: %s); retrying in %g s", url, what, exc, pause)
            time.sleep(pause)
            attempt += 1


def process_film(pipeline, film: Film, result_dir: Path, client=None, url: str = "", write_back: bool = False) -> dict:
    """Run the pipeline on one film into ``result_dir``; the record the batch run keeps for it."""
    import pydicom

    from apps.cli.predict import predict_one

    started = time.monotonic()
    result_dir = Path(result_dir)
    result_dir.mkdir(parents=True, exist_ok=True)
    fetched = None
    if film.path is None:
        dataset = with_retry(lambda: client.retrieve_instance(film.study, film.series, film.instance), "retrieve", url)
        fetched = result_dir / f"{film.key}.dcm"
        dataset.save_as(str(fetched), write_like_original=False)
    try:
        result = predict_one(pipeline, Path(film.path or fetched), result_dir)
    finally:
        if fetched is not None:
            fetched.unlink(missing_ok=True)  # the archive keeps the film; the run keeps only its findings
    stored = []
    if write_back and client is not None and result.get("dicom_files"):
        datasets = [pydicom.dcmread(p) for p in result["dicom_files"].values()]
        with_retry(lambda: client.store_instances(datasets), "store findings", url)
        stored = [str(ds.SeriesInstanceUID) for ds in datasets]
    return {
        "key": film.key,
        "source": film.source,
        "patient_id": film.patient_id,
        "result": {
            "result": result.get("result"),
            "cervical_spine_found": result.get("cervical_spine_found"),
            "segments": {
                s: {k: e.get(k) for k in ("probability", "positive", "decision", "reason")}
                for s, e in (result.get("segments") or {}).items()
            },
        },
        "result_dir": str(result_dir),
        "stored_series": stored,
        "seconds": round(time.monotonic() - started, 3),
    }


def film_outcome(get_pipeline, film: Film, result_dir: Path, client=None, url: str = "", write_back: bool = False):
    """``("done", record)`` or ``("failed", record)`` for one film through ``process_film`` with the pipeline
    ``get_pipeline()`` returns (a watcher builds it on its first film). A film refused for itself (unreadable, not a
    radiograph) gets ``retry: False``, the same answer next time; any other failure (the server away past the wait,
    a broken file) ``retry: True``. Never raises for an ``Exception``."""
    from lib.core.errors import AppError

    try:
        return "done", process_film(get_pipeline(), film, result_dir, client, url, write_back)
    except AppError as exc:
        return "failed", {"key": film.key, "source": film.source, "reason": str(exc), "retry": False}
    except Exception as exc:  # noqa: BLE001 - any film may be broken in its own way; the run goes on
        reason = f"{type(exc).__name__}: {exc}"
        return "failed", {"key": film.key, "source": film.source, "reason": reason, "retry": True}
