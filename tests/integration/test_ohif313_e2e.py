"""OHIF 3.13 (``apps.ops.viewer``) in headless Chromium on a real Orthanc and MONAI Label server with the shipped
models: the app's label SEG opened on a DX in the segmentation mode, painted with the brush, stored through the UI
(Export -> DICOM SEG -> Save, STOW through the viewer's origin) and read back by the app's datastore as the final
label; the pipeline's write-back (findings SEG, overlay, TID 1500 SR) listed in the viewer, and the SR's measurements
drawn on the DX.

Chromium is Debian's ``chromium`` driven by Playwright (never ``playwright install``); every address is loopback.
OHIF 3.13 is installed in set-up (``apps.ops.viewer.INSTALL_COMMAND``); without it the test fails and says how.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from io import BytesIO
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from monailabel.client import MONAILabelClient

from apps.ops.ohif import (
    CHROMIUM,
    FINDINGS_DESCRIPTION,
    DicomwebServer,
    headless_chromium,
    load_seg_on_the_image,
    open_sr_on_the_image,
)
from apps.ops.orthanc import Orthanc
from apps.ops.server_process import free_port
from apps.ops.viewer import EXPLICIT_VR_LITTLE_ENDIAN, ViewerNotInstalled, ViewerServer, check_installed
from lib.anatomy.names import LEVEL_LABELS
from lib.io.labels import read_label_map, write_label_map

WAIT_MS = 60_000
BINARY_SEG = "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage (OHIF 3.13 would store Label Map, .66.7)
EDITED = "OHIF edited levels label"


@pytest.fixture(scope="module")
def stack(phantom_cohort, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        check_installed()
    except ViewerNotInstalled as exc:
        pytest.fail(str(exc))
    root = tmp_path_factory.mktemp("ohif313")
    studies = phantom_cohort(root / "studies", patients=2, seed=7)
    orthanc = Orthanc(root / "orthanc", free_port()).start()
    orthanc.upload_folder(studies)
    try:
        # The shipped models: they find the phantom's spine, so the write-back holds a findings SEG and an SR.
        with DicomwebServer(orthanc.dicomweb_url, root, conf={"skip_trainers": "true"}) as server:
            with ViewerServer(orthanc.url, server.url) as viewer:
                yield {"server": server, "orthanc": orthanc, "viewer": viewer, "studies": studies, "root": root}
    finally:
        orthanc.stop()


@pytest.fixture(scope="module")
def browser(stack):
    with headless_chromium() as context:
        context.set_default_timeout(WAIT_MS)
        yield context


def _source(stack, index: int) -> pydicom.Dataset:
    return pydicom.dcmread(str(stack["studies"] / f"phantom_7_{index:04d}.dcm"), stop_before_pixels=True)


def _truth(stack, index: int) -> np.ndarray:
    return read_label_map(stack["studies"] / "labels" / "final" / f"phantom_7_{index:04d}.nii.gz")


def _seg_series(orthanc: Orthanc, study: str) -> dict[str, str]:
    found = orthanc.get(f"/dicom-web/studies/{study}/series?Modality=SEG&includefield=0008103E")
    return {s.get("0008103E", {}).get("Value", [""])[0]: s["0020000E"]["Value"][0] for s in found}


def _download(orthanc: Orthanc, series_uid: str) -> pydicom.Dataset:
    return pydicom.dcmread(BytesIO(orthanc.series_file(series_uid)))


def _get(url: str):
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def _open_seg_export_dialog(page, tmp_path: Path, tries: int = 3):
    """The segmentation's menu -> Export -> DICOM SEG, until OHIF's save dialog (with its series chooser) is up.

    On a loaded machine the menu can close between the hover and the click, and the dialog never comes; the menu is
    opened again. When it never comes, the failure says what the page showed and where its screenshot is."""
    dialog = page.locator('[role="dialog"]')
    for attempt in range(tries):
        page.keyboard.press("Escape")
        page.locator('[data-cy="segmentation-collapsed-more-btn-Labelmap"]').first.click()
        page.get_by_text("Export", exact=True).hover()
        page.get_by_role("menuitem", name="DICOM SEG").click()
        try:
            dialog.locator('[role="combobox"]').first.wait_for(timeout=WAIT_MS // tries)
            return dialog
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; the next attempt opens the menu again
            shot = tmp_path / f"export_attempt_{attempt}.png"
            page.screenshot(path=str(shot))
    shown = " | ".join(t.strip() for t in page.locator('[role="dialog"], [role="alert"], .toast').all_inner_texts())
    raise AssertionError(f"OHIF's DICOM SEG save dialog never opened; the page showed: {shown!r}; see {shot}")


def test_label_seg_opened_painted_and_stored_from_ohif_is_the_apps_final_label(stack, browser, tmp_path):
    orthanc, viewer = stack["orthanc"], stack["viewer"]
    source, truth = _source(stack, 1), _truth(stack, 1)
    image = str(source.SeriesInstanceUID)
    client = MONAILabelClient(stack["server"].url)
    # The app's own label SEG, written through the datastore (canonical names, BINARY).
    label_path = write_label_map(tmp_path / "truth.nii.gz", truth, None)
    client.save_label(image, str(label_path), tag="final")
    original = _seg_series(orthanc, source.StudyInstanceUID)["Cervical levels label"]

    page = browser.new_page()
    load_seg_on_the_image(page, viewer.url, source.StudyInstanceUID, "Cervical levels label")
    rows = page.locator('[data-cy="data-row-title"]').all_inner_texts()
    assert set(LEVEL_LABELS) <= {r.strip() for r in rows}, rows  # the segments by the app's names

    # The brush, 5 mm, one stroke in C2 over soft tissue in front of the spine (nothing labelled there).
    page.locator('[data-cy="data-row-title"]', has_text="C2").first.click()
    page.locator('[data-cy="Brush-btn"]').click()
    page.locator("input[type=number]").first.fill("5")
    page.keyboard.press("Enter")
    box = page.locator(".cornerstone-canvas").first.bounding_box()
    y = box["y"] + 0.33 * box["height"]
    page.mouse.move(box["x"] + 0.13 * box["width"], y)
    page.mouse.down()
    for x in np.linspace(0.13, 0.21, 16):
        page.mouse.move(box["x"] + x * box["width"], y)
    page.mouse.up()
    page.wait_for_timeout(500)

    # Export -> DICOM SEG -> a new series -> Save: OHIF stores it over STOW through the viewer's /dicom-web.
    dialog = _open_seg_export_dialog(page, tmp_path)
    dialog.locator('[role="combobox"]').first.click()
    page.get_by_role("option", name="Create new series").click()
    dialog.locator("input").last.fill(EDITED)
    with page.expect_response(
        lambda r: r.request.method == "POST" and "/dicom-web/studies" in r.url, timeout=WAIT_MS
    ) as stow:
        dialog.get_by_role("button", name="Save").click()
    assert stow.value.status == 200, stow.value.text()
    page.close()

    segs = _seg_series(orthanc, source.StudyInstanceUID)
    assert EDITED in segs, segs
    stored = _download(orthanc, segs[EDITED])
    # The app's OHIF configuration: BINARY Segmentation Storage, explicit VR little endian.
    assert stored.SOPClassUID == BINARY_SEG and stored.SegmentationType == "BINARY"
    assert stored.file_meta.TransferSyntaxUID == EXPLICIT_VR_LITTLE_ENDIAN
    assert {str(s.SegmentLabel) for s in stored.SegmentSequence} == set(LEVEL_LABELS)

    # The datastore's final label for the image is OHIF's SEG, the newest, by canonical names with the stroke.
    info = json.loads(_get(f"{stack['server'].url}/datastore/label/info?label={image}&tag=final"))
    assert info["SeriesInstanceUID"] == segs[EDITED] and original in info["older_label_series"], info
    label_file = tmp_path / "final.nii.gz"
    label_file.write_bytes(_get(f"{stack['server'].url}/datastore/label?label={urllib.parse.quote(image)}&tag=final"))
    label = read_label_map(label_file)
    assert label.shape == truth.shape
    painted = (label == LEVEL_LABELS["C2"]) & (truth == 0)
    assert painted.sum() > 500, painted.sum()  # a 10 mm wide stroke, several mm long
    rows_painted, cols_painted = np.nonzero(painted)
    assert cols_painted.max() < np.nonzero(truth)[1].min()  # in front of every labelled structure
    elsewhere = ~painted
    assert (label[elsewhere] == truth[elsewhere]).mean() > 0.999  # the rest of the label came back unchanged


def test_write_back_findings_seg_sr_and_overlay_are_listed_and_the_seg_drawn_on_the_dx(stack, browser):
    viewer = stack["viewer"]
    source = _source(stack, 0)
    body = urllib.parse.urlencode({"params": json.dumps({"save_label": True})}).encode()
    request = urllib.request.Request(
        f"{stack['server'].url}/infer/pipeline?image={source.SeriesInstanceUID}&output=json", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        result = json.loads(response.read())
    assert result.get("params", result)["cervical_spine_found"]

    page = browser.new_page()
    page.goto(f"{viewer.url}/viewer?StudyInstanceUIDs={source.StudyInstanceUID}")
    page.locator(".cornerstone-canvas").first.wait_for()
    items = page.locator('[data-cy="study-browser-thumbnail-no-image"]')
    items.filter(has_text="Cervical cord measurements").first.wait_for()
    listed = " ".join(items.all_inner_texts()) + " ".join(
        page.locator('[data-cy="study-browser-thumbnail"]').all_inner_texts()
    )
    for modality, description in (("SEG", FINDINGS_DESCRIPTION), ("SR", "Cervical cord measurements")):
        assert modality in listed and description in listed, listed
    assert "Cervical cord overlay" in listed

    # The findings SEG on the DX in the segmentation mode: levels plus the findings' names as written back.
    load_seg_on_the_image(page, viewer.url, source.StudyInstanceUID, FINDINGS_DESCRIPTION)
    rows = {r.strip() for r in page.locator('[data-cy="data-row-title"]').all_inner_texts()}
    assert {"C2", "C3", "spinal_canal"} <= rows, rows
    page.screenshot(path=str(stack["root"] / "ohif313_findings.png"))
    page.close()


def test_write_back_sr_measurements_are_drawn_on_the_dx(stack, browser):
    orthanc = stack["orthanc"]
    source = _source(stack, 0)
    found = orthanc.get(f"/dicom-web/studies/{source.StudyInstanceUID}/series?Modality=SR")
    assert found, "run after the write-back test"
    sr = hd.sr.srread(BytesIO(orthanc.series_file(found[0]["0020000E"]["Value"][0])))
    groups = sr.content.get_planar_roi_measurement_groups()
    canal = next(g for g in groups if str(g.tracking_identifier).endswith(" canal"))
    diameter = next(m for m in canal.get_measurements() if m.unit.value == "mm")

    page = browser.new_page()
    drawn = open_sr_on_the_image(page, stack["viewer"].url, source.StudyInstanceUID)
    texts = " ".join(page.locator("svg [data-annotation-uid]").all_text_contents())
    page.screenshot(path=str(stack["root"] / "ohif313_sr.png"))
    page.close()
    assert drawn == len(groups) > 10, (drawn, len(groups))  # every group of the report, each on its region
    assert f"{diameter.value:.2f} mm" in texts, texts[:500]  # OHIF's label of a canal diameter, as measured


def test_levels_to_correct_seg_opens_in_ohif_with_every_level_named(stack, browser):
    orthanc, source = stack["orthanc"], _source(stack, 0)
    body = urllib.parse.urlencode({"params": json.dumps({"save_label": True, "label_tag": "original"})}).encode()
    request = urllib.request.Request(
        f"{stack['server'].url}/infer/levels?image={source.SeriesInstanceUID}&output=json", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        assert response.status == 200
    assert "Cervical levels to correct" in _seg_series(orthanc, source.StudyInstanceUID)

    page = browser.new_page()
    load_seg_on_the_image(page, stack["viewer"].url, source.StudyInstanceUID, "Cervical levels to correct")
    rows = [r.strip() for r in page.locator('[data-cy="data-row-title"]').all_inner_texts()]
    page.close()
    assert rows[: len(LEVEL_LABELS)] == list(LEVEL_LABELS), rows  # every level, C7 too where none was found
