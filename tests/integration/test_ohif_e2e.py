"""OHIF (as MONAI Label ships it at /ohif/) in headless Chromium on Orthanc through this app: the study list, a
radiograph rendered, the MONAI Label panel listing the pipeline; then the panel's own REST call with write-back.

Chromium is Debian's ``chromium`` package driven by Playwright (never ``playwright install``). Screenshots are
checked by pixel statistics, so a blank or black viewport fails.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apps.ops.ohif import CHROMIUM, DicomwebServer, headless_chromium
from apps.ops.orthanc import Orthanc
from apps.ops.server_process import free_port
from tests.untrained_models import untrained_model_dir

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def stack(phantom_cohort, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    root = tmp_path_factory.mktemp("ohif")
    studies = phantom_cohort(root / "studies", patients=2, seed=7)
    model_dir = untrained_model_dir(root / "model")
    orthanc = Orthanc(root / "orthanc", free_port()).start()
    orthanc.upload_folder(studies)
    conf = {"model_dir": str(model_dir), "skip_trainers": "true"}
    try:
        with DicomwebServer(orthanc.dicomweb_url, root, conf=conf) as server:
            yield {"server": server, "orthanc": orthanc, "root": root}
    finally:
        orthanc.stop()


@pytest.fixture(scope="module")
def page(stack):
    with headless_chromium() as context:
        yield context.new_page()


def _studies(orthanc: Orthanc) -> list[str]:
    return sorted(s["0020000D"]["Value"][0] for s in orthanc.get("/dicom-web/studies"))


def _picture(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(BytesIO(png)).convert("L"), dtype=np.float32)


def test_study_list_shows_the_phantom_studies_from_orthanc(stack, page):
    page.goto(f"{stack['server'].url}/ohif/", timeout=WAIT_MS)
    page.locator("span.truncate", has_text="Phantom, PH7-0000").wait_for(timeout=WAIT_MS)  # patient name column
    cells = page.locator("span.truncate").all_inner_texts()
    assert {"Phantom, PH7-0000", "Phantom, PH7-0001", "phantom_7_0000", "phantom_7_0001"} <= set(cells)
    assert "DX" in page.inner_text("body")  # the modality column


def test_viewer_renders_the_radiograph(stack, page):
    study = _studies(stack["orthanc"])[0]
    page.goto(f"{stack['server'].url}/ohif/viewer?StudyInstanceUIDs={study}", timeout=WAIT_MS)
    viewport = page.locator(".cornerstone-canvas").first
    viewport.wait_for(timeout=WAIT_MS)
    picture = _picture(viewport.screenshot())
    deadline = time.monotonic() + WAIT_MS / 1000
    while picture.std() < 25 and time.monotonic() < deadline:  # polling until the image is drawn
        page.wait_for_timeout(500)
        picture = _picture(viewport.screenshot())
    page.screenshot(path=str(stack["root"] / "ohif_viewer.png"))
    # A lateral radiograph: a wide range of grey levels over a large share of the viewport, not a flat field.
    assert picture.std() > 25 and (picture > 40).mean() > 0.2, (picture.mean(), picture.std())


def test_monai_label_panel_connects_and_gets_the_pipeline_model(stack, page):
    study = _studies(stack["orthanc"])[0]
    page.goto(f"{stack['server'].url}/ohif/monai-label?StudyInstanceUIDs={study}", timeout=WAIT_MS)
    url_box = page.locator("#monailabelServerURL")
    url_box.wait_for(timeout=WAIT_MS)
    url_box.fill(f"{stack['server'].url}/")  # the panel defaults to port 8000; the test server has its own
    with page.expect_response(lambda r: r.url.endswith("/info/") and r.status == 200, timeout=WAIT_MS) as info:
        page.locator("table.settingsTable button.actionButton").click()  # the panel's connect button
    assert info.value.json()["models"]["pipeline"]["type"] == "segmentation"
    # Not checked: the model list drawn in the panel. This OHIF build's monai-label mode is made for CT/MR volumes;
    # on a single DX image its MPR viewports stay empty and the panel's model sections are not drawn.
    page.screenshot(path=str(stack["root"] / "ohif_monailabel.png"))


def test_pipeline_through_the_panels_rest_call_writes_a_seg_into_the_study(stack):
    orthanc = stack["orthanc"]
    series = orthanc.get("/dicom-web/series?Modality=DX")[0]
    study, uid = series["0020000D"]["Value"][0], series["0020000E"]["Value"][0]
    body = urllib.parse.urlencode({"params": json.dumps({"save_label": True})}).encode()
    request = urllib.request.Request(
        f"{stack['server'].url}/infer/pipeline?image={uid}&output=json", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        result = json.loads(response.read())
    new = orthanc.get(f"/dicom-web/studies/{study}/series?includefield=SeriesDescription")
    descriptions = {s.get("0008103E", {}).get("Value", [""])[0]: s["00080060"]["Value"][0] for s in new}
    assert descriptions.get("Cervical cord overlay") == "OT"
    params = result.get("params", result)
    assert ("Cervical cord findings" in descriptions) == bool(params.get("cervical_spine_found"))
