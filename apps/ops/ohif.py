"""OHIF, Orthanc and this app together: the machinery behind ``python main.py demo-ohif`` (``apps.cli.viewers``).

The demo starts Orthanc (loopback only), uploads the phantom demo cohort's DICOM files, and serves this app on
Orthanc's DICOMweb so the OHIF viewer MONAI Label ships at ``/ohif/`` shows the studies and the pipeline model.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from apps.ops.orthanc import Orthanc
from apps.ops.server_process import LiveServer, free_port, monailabel_command
from apps.paths import APP_DIR

logger = logging.getLogger(__name__)

ORTHANC_DIR = APP_DIR / "runs" / "orthanc"
# Debian's chromium driven by Playwright (never ``playwright install``), as in the OHIF end-to-end test.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
OVERLAY_DESCRIPTION = "Cervical cord overlay"  # lib.io.dicom_export's Secondary Capture series
SCREENSHOT_PROBES = 8  # demo studies tried, in patient order, for one with a spine and a positive segment


def monailabel_env(cache_dir: Path) -> dict[str, str]:
    """Environment for a server on DICOMweb: its cache under ``cache_dir``, no tracking, no start-up scoring race."""
    env = dict(os.environ)
    env.setdefault("MONAI_LABEL_TRACKING_ENABLED", "false")
    env["MONAI_LABEL_DICOMWEB_CACHE_PATH"] = str(cache_dir)
    env["MONAI_LABEL_DICOMWEB_CONVERT_TO_NIFTI"] = "false"  # the datastore keeps DICOM; say so to MONAI Label too
    return env


def _post_pipeline(server_url: str, series_uid: str, params: dict) -> dict:
    """The OHIF panel's REST call: ``POST /infer/pipeline?image=<SeriesInstanceUID>`` with ``params``."""
    body = urllib.parse.urlencode({"params": json.dumps(params)}).encode()
    request = urllib.request.Request(
        f"{server_url}/infer/pipeline?image={series_uid}&output=json", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        result = json.loads(response.read())
    return result.get("params", result)


def _study_series(orthanc: Orthanc, study: str) -> dict[str, str]:
    """SeriesInstanceUID -> SeriesDescription of one study."""
    found = orthanc.get(f"/dicom-web/studies/{study}/series?includefield=0008103E")
    return {s["0020000E"]["Value"][0]: s.get("0008103E", {}).get("Value", [""])[0] for s in found}


def pick_demo_study(orthanc: Orthanc, server_url: str, probes: int = SCREENSHOT_PROBES) -> tuple[str, str, dict]:
    """(study, DX series, result) of the first demo radiograph, in patient order, where the pipeline finds a spine
    and a positive segment; else the first with a spine; else the first. Probes do not write anything back."""
    series = orthanc.get("/dicom-web/series?Modality=DX&includefield=00100020")
    series.sort(key=lambda s: (s.get("00100020", {}).get("Value", [""])[0], s["0020000E"]["Value"][0]))
    fallback = None
    for meta in series[:probes]:
        study, uid = meta["0020000D"]["Value"][0], meta["0020000E"]["Value"][0]
        result = _post_pipeline(server_url, uid, {})
        summary = result.get("summary") or {}
        logger.info("probe %s: %s", uid, result.get("result"))
        if result.get("cervical_spine_found") and summary.get("positive"):
            return study, uid, result
        if fallback is None or (result.get("cervical_spine_found") and not fallback[2].get("cervical_spine_found")):
            fallback = (study, uid, result)
    if fallback is None:
        raise RuntimeError("no DX series on the DICOMweb server")
    return fallback


def _viewport_drawn(page, timeout_s: float = 60.0) -> None:
    """Wait until OHIF's first viewport holds a picture (grey levels spread out), not a blank canvas."""
    from io import BytesIO

    import numpy as np
    from PIL import Image

    viewport = page.locator(".cornerstone-canvas").first
    viewport.wait_for(timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        picture = np.asarray(Image.open(BytesIO(viewport.screenshot())).convert("L"), dtype=np.float32)
        if picture.std() > 25:
            break
        page.wait_for_timeout(500)  # polling until the image is drawn, bounded by the deadline
    page.wait_for_timeout(2000)  # thumbnails and overlays of the study panel settle


def save_viewer_screenshots(server_url: str, study: str, image_uid: str, overlay_uid: str, out: Path) -> list[Path]:
    """OHIF's viewer in headless Chromium (1280x800): the radiograph, then the overlay Secondary Capture."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    out.mkdir(parents=True, exist_ok=True)
    shots = [(image_uid, out / "ohif_viewer.png"), (overlay_uid, out / "ohif_overlay.png")]
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            page = context.new_page()
            for series_uid, path in shots:
                page.goto(
                    f"{server_url}/ohif/viewer?StudyInstanceUIDs={study}&initialSeriesInstanceUID={series_uid}",
                    timeout=60_000,
                )
                _viewport_drawn(page)
                banner = page.locator('[data-cy="confirm-and-hide-button"]')  # "investigational use only" notice
                if banner.count():
                    banner.first.click()
                thumbnail = page.locator('[data-cy="study-browser-thumbnail"]')  # this study's series in the panel
                if thumbnail.count():
                    thumbnail.first.scroll_into_view_if_needed()
                # OHIF opens a cine player (play, FPS, close) on an OT series: its last icon closes it.
                cine = page.locator(
                    "xpath=//*[contains(text(),'FPS')]/ancestor::div[count(.//*[local-name()='svg'])>=3][1]"
                )
                if cine.count():
                    try:
                        cine.first.locator("svg").last.click(timeout=2000)
                    except Exception:  # noqa: BLE001 - a player left open only covers a strip of the viewport
                        logger.debug("cine player left open")
                page.wait_for_timeout(1000)
                page.screenshot(path=str(path))
                logger.info("saved %s (%d KB)", path, path.stat().st_size // 1024)
        finally:
            context.close()
    return [path for _, path in shots]


def demo_screenshots(orthanc: Orthanc, folder: Path, conf: dict[str, str], out: Path) -> int:
    """MONAI Label on Orthanc, the pipeline with write-back on one demo study, two OHIF screenshots; then stop."""
    with DicomwebServer(orthanc.dicomweb_url, folder, conf={"skip_trainers": "true", **conf}) as server:
        study, uid, _ = pick_demo_study(orthanc, server.url)
        before = _study_series(orthanc, study)
        result = _post_pipeline(server.url, uid, {"save_label": True})
        logger.info("pipeline on series %s: %s (summary %s)", uid, result.get("result"), result.get("summary"))
        written = {u: d for u, d in _study_series(orthanc, study).items() if u not in before}
        overlay = next((u for u, d in written.items() if d == OVERLAY_DESCRIPTION), None)
        if overlay is None:
            raise RuntimeError(f"no overlay series was written back to study {study}; see {server.log_path}")
        save_viewer_screenshots(server.url, study, uid, overlay, out)
    return 0


class DicomwebServer(LiveServer):
    """MONAI Label on this app and a DICOMweb URL as its own process on a free loopback port (tests, screenshots).

    Only the start differs from ``LiveServer`` (which serves a local folder through ``main.py serve``): the command,
    the log beside the DICOMweb cache, a longer wait for the first ``/info/``.
    """

    ready_timeout_s = 180.0

    def __init__(self, studies_url: str, folder: Path, conf: dict[str, str] | None = None):
        # Not LiveServer.__init__, which builds the local-folder command: everything after the start is shared.
        port = free_port()
        self._spawn(
            port,
            monailabel_command(studies_url, port, conf),
            Path(folder) / f"monailabel-{port}.log",
            monailabel_env(Path(folder) / "cache"),
        )
