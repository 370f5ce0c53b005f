"""Where a ``watch`` run is on its DICOMweb server, kept in ``<out>/watch_state.json`` so a restart goes on from
there: the change sequence of Orthanc's feed already read (or, on a server without one, the series already seen),
and the series still to try again because the server went away while they were processed.

Pure bookkeeping: no HTTP here. The state is written atomically after every series, so a watcher killed at any
moment resumes at most one series back, and that series' films are skipped by their done records
(``lib.batch.results``), never processed twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit, urlunsplit

from lib.core.atomic import write_json_atomic
from lib.core.errors import BadParameterError
from lib.io.series import WRITE_BACK_PREFIX

STATE_FILE = "watch_state.json"
FEEDS = ("orthanc", "qido")
APP_MANUFACTURER = "CervicalCord"  # lib.io.dicom_results.common.MANUFACTURER, without importing highdicom


@dataclass
class WatchState:
    server: str  # the DICOMweb URL followed
    feed: str  # "orthanc" (change feed) or "qido" (series listing)
    cursor: int = 0  # orthanc: the last change sequence read
    seen_series: list[str] = field(default_factory=list)  # qido: SeriesInstanceUIDs already handled
    retry: list[dict] = field(default_factory=list)  # {"study", "series", "reason"}: to try again next poll

    def seen(self, series: str) -> bool:
        return series in self.seen_series

    def mark_seen(self, series: str) -> None:
        if series not in self.seen_series:
            self.seen_series.append(series)

    def hold_for_retry(self, study: str, series: str, reason: str) -> None:
        self.retry = [r for r in self.retry if r["series"] != series]
        self.retry.append({"study": study, "series": series, "reason": reason})

    def retried(self, series: str) -> None:
        self.retry = [r for r in self.retry if r["series"] != series]


def state_path(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_FILE


def load_state(out_dir: Path, server: str, feed: str) -> WatchState:
    """The state of ``out_dir`` for ``server``, or a fresh one; a state of another server or feed is refused (its
    cursor would mean nothing there), and so is a damaged file, naming it."""
    if feed not in FEEDS:
        raise BadParameterError(f"feed {feed!r} is not one of {', '.join(FEEDS)}")
    path = state_path(out_dir)
    if not path.is_file():
        return WatchState(server=server, feed=feed)
    try:
        raw = json.loads(path.read_text())
        state = WatchState(
            server=str(raw["server"]),
            feed=str(raw["feed"]),
            cursor=int(raw.get("cursor", 0)),
            seen_series=[str(s) for s in raw.get("seen_series", [])],
            retry=[{k: str(r[k]) for k in ("study", "series", "reason")} for r in raw.get("retry", [])],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BadParameterError(
            f"{path} is not a watch state file ({type(exc).__name__}: {exc}); move it away"
        ) from None
    if state.server != server:
        raise BadParameterError(f"{path} follows {state.server}, not {server}: give another --out for this server")
    if state.feed != feed:
        raise BadParameterError(
            f"{path} was written following the {state.feed} feed, not {feed}: give --feed {state.feed} or another --out"
        )
    return state


def saved_feed(out_dir: Path) -> Optional[str]:
    """The feed a state folder was written following, or None (no state yet, or one that ``load_state`` refuses)."""
    try:
        feed = json.loads(state_path(out_dir).read_text()).get("feed")
    except (OSError, ValueError, AttributeError):
        return None
    return feed if feed in FEEDS else None


def save_state(out_dir: Path, state: WatchState) -> None:
    write_json_atomic(asdict(state), state_path(out_dir))


def new_series_changes(changes: list[dict]) -> list[dict]:
    """The ``NewSeries`` entries of one page of Orthanc's ``/changes``, in sequence order. A radiograph series holds
    one image, so its ``NewSeries`` (sent when its first instance is stored) is when it is there to read."""
    return sorted((c for c in changes if c.get("ChangeType") == "NewSeries"), key=lambda c: int(c["Seq"]))


def feed_was_reset(cursor: int, last: int, done: bool) -> bool:
    """True when the server's feed ends before our cursor: its database was replaced (a new Orthanc), so the
    cursor must start over; done records keep films already processed from being done again."""
    return done and last < cursor


def is_radiograph_series(modality: str, modalities: tuple[str, ...], description: str, manufacturer: str) -> bool:
    """Whether a series is input: one of ``modalities`` and not one of the app's own write-backs (which carry the
    app's Manufacturer and a description starting with ``WRITE_BACK_PREFIX``; their SEG, SR and OT modalities are
    no radiograph anyway, but a user's ``--modality OT`` must not turn our overlays into input)."""
    if modality.upper() not in modalities:
        return False
    own = description.startswith(WRITE_BACK_PREFIX) and manufacturer in (APP_MANUFACTURER, "")
    return not own


def rest_root(dicomweb_url: str) -> str:
    """The server's REST root under a DICOMweb URL: ``http://host:8042/dicom-web`` -> ``http://host:8042`` (Orthanc
    serves DICOMweb one path segment below its REST API)."""
    parts = urlsplit(dicomweb_url.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadParameterError(f"--studies {dicomweb_url!r} is not an http(s) DICOMweb URL")
    path = parts.path.rsplit("/", 1)[0] if "/" in parts.path else ""
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def orthanc_answer(system: Optional[dict]) -> bool:
    """Whether a ``GET <root>/system`` answer is Orthanc's (it names its REST API version)."""
    return isinstance(system, dict) and "ApiVersion" in system and "Version" in system
