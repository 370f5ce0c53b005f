"""The app on Orthanc's DICOMweb through the REST calls 3D Slicer makes: Orthanc down at start-up, only
single-image CR/DX series listed, next sample, inference, a Slicer label saved as DICOM SEG and read back by
name, the pipeline's findings written back to the study, and Orthanc going down and coming back mid-session."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from io import BytesIO

import numpy as np
import pydicom
import pytest
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException
from pydicom.uid import generate_uid

from apps.ops.ohif import DicomwebServer
from apps.ops.orthanc import Orthanc
from apps.ops.server_process import free_port
from lib.anatomy.names import LEVEL_LABELS
from lib.io.dicom_export import read_seg
from lib.io.labels import read_label_map, write_label_map
from tests.dicom_factory import make_dx, pydicom_data_file, save
from tests.untrained_models import untrained_model_dir

SLICER_ORDER = ["spinal_canal", "C7", "C6", "C5", "C4", "C3", "C2"]


def _odd_series(folder):
    """A CT, and a multi-frame DX: neither is a single radiograph."""
    multi = make_dx(np.zeros((2, 32, 32), np.uint16), NumberOfFrames=2, Rows=32, Columns=32)
    multi.StudyInstanceUID, multi.SeriesInstanceUID = generate_uid(), generate_uid()
    return [pydicom_data_file("CT_small.dcm"), save(multi, folder / "multiframe.dcm")]


@pytest.fixture(scope="module")
def stack(phantom_cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("dicomweb")
    studies = phantom_cohort(root / "studies", patients=2, seed=5)
    model_dir = untrained_model_dir(root / "model")
    orthanc = Orthanc(root / "orthanc", free_port())
    # The server starts before Orthanc: it must come up anyway and say what is wrong.
    conf = {"model_dir": str(model_dir), "skip_trainers": "true"}
    try:
        with DicomwebServer(orthanc.dicomweb_url, root, conf=conf) as server:
            orthanc.start()
            orthanc.upload_folder(studies)
            for path in _odd_series(root):
                orthanc.upload_file(path)
            yield {
                "server": server,
                "orthanc": orthanc,
                "studies": studies,
                "info_while_down": server.info,
                "client": MONAILabelClient(server.url),
            }
    finally:
        orthanc.stop()


def _series(orthanc: Orthanc, modality: str) -> list[dict]:
    return orthanc.get(f"/dicom-web/series?Modality={modality}&includefield=SeriesDescription")


def _post(url: str, params: dict) -> dict:
    body = f"params={urllib.parse.quote(json.dumps(params))}".encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def test_server_started_while_orthanc_was_down_says_so(stack):
    status = stack["info_while_down"]["datastore"]
    assert status["total"] == 0 and "not reachable" in status["error"] and "orthanc start" in status["error"]
    assert "pipeline" in stack["info_while_down"]["models"]


def test_only_single_image_radiograph_series_are_listed_and_the_rest_logged(stack):
    info = stack["client"].info()
    assert info["datastore"]["total"] == 2 and "error" not in info["datastore"]
    log = stack["server"].log_tail(200_000)
    assert "modality CT is not a radiograph" in log and "multi-frame (2 frames)" in log


def test_slicer_loop_next_sample_infer_and_label_saved_as_seg(stack, tmp_path):
    client = stack["client"]
    image_id = client.next_sample("random", {})["id"]
    dx_series = {s["0020000E"]["Value"][0] for s in _series(stack["orthanc"], "DX")}
    assert image_id in dx_series
    result_file, params = client.infer("levels", image_id, {})
    params = json.loads(params) if isinstance(params, str) else params
    shape = tuple(params["radiograph"]["shape"]) if "radiograph" in params else read_label_map(result_file).shape
    assert read_label_map(result_file).shape == shape
    # A Slicer label: the phantom's truth in Slicer's own segment order.
    source = pydicom.dcmread(str(next(stack["studies"].glob("*.dcm"))))
    assert source.SeriesInstanceUID in dx_series
    truth = read_label_map(stack["studies"] / "labels" / "final" / f"{_image_name(stack, source)}.nii.gz")
    slicer = np.zeros_like(truth)
    for idx, name in enumerate(SLICER_ORDER, start=1):
        slicer[truth == LEVEL_LABELS[name]] = idx
    path = write_label_map(tmp_path / "slicer.nii.gz", slicer, None)
    label_info = [{"name": name, "idx": idx} for idx, name in enumerate(SLICER_ORDER, start=1)]
    client.save_label(source.SeriesInstanceUID, str(path), tag="final", params={"label_info": label_info})
    segs = [s for s in _series(stack["orthanc"], "SEG") if "levels label" in json.dumps(s)]
    assert len(segs) == 1
    seg = _download(stack["orthanc"], segs[0]["0020000E"]["Value"][0])
    label, names = read_seg(seg)
    assert set(names.values()) == set(LEVEL_LABELS)
    canonical = np.vectorize(lambda v: LEVEL_LABELS[names[v]] if v else 0)(label[::7, ::7])
    np.testing.assert_array_equal(canonical, truth[::7, ::7])  # back by name, not by Slicer's order
    assert stack["client"].info()["datastore"]["completed"] == 1


def _image_name(stack, source) -> str:
    truth = json.loads((stack["studies"] / "phantom_labels.json").read_text())
    return next(k for k, v in truth.items() if v.get("patient_id") == source.PatientID)


def _download(orthanc: Orthanc, series_uid: str) -> pydicom.Dataset:
    found = orthanc.get(f"/dicom-web/instances?SeriesInstanceUID={series_uid}")[0]
    study, sop = found["0020000D"]["Value"][0], found["00080018"]["Value"][0]
    request = urllib.request.Request(f"{orthanc.url}/tools/lookup", data=sop.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        orthanc_id = json.loads(response.read())[0]["ID"]
    with urllib.request.urlopen(f"{orthanc.url}/instances/{orthanc_id}/file", timeout=30) as response:
        ds = pydicom.dcmread(BytesIO(response.read()))
    assert ds.StudyInstanceUID == study
    return ds


def test_pipeline_findings_are_written_back_to_the_source_study(stack):
    source = pydicom.dcmread(str(next(stack["studies"].glob("*.dcm"))), stop_before_pixels=True)
    before = {s["0020000E"]["Value"][0] for s in _series(stack["orthanc"], "OT")}
    result = _post(
        f"{stack['server'].url}/infer/pipeline?image={source.SeriesInstanceUID}&output=json", {"save_label": True}
    )
    overlays = [s for s in _series(stack["orthanc"], "OT") if s["0020000E"]["Value"][0] not in before]
    assert len(overlays) == 1 and overlays[0]["0020000D"]["Value"][0] == source.StudyInstanceUID
    sc = _download(stack["orthanc"], overlays[0]["0020000E"]["Value"][0])
    assert sc.SeriesDescription == "Cervical cord overlay" and sc.pixel_array.std() > 1.0
    findings = [s for s in _series(stack["orthanc"], "SEG") if "Cervical cord findings" in json.dumps(s)]
    params = result.get("params", result)
    if params.get("cervical_spine_found"):
        assert len(findings) == 1  # untrained weights usually find no spine: then there is no SEG to write
    else:
        assert findings == []


def test_orthanc_going_down_gives_clear_answers_and_the_server_recovers(stack, tmp_path):
    client, orthanc = stack["client"], stack["orthanc"]
    source = pydicom.dcmread(str(next(stack["studies"].glob("*.dcm"))), stop_before_pixels=True)
    truth = read_label_map(stack["studies"] / "labels" / "final" / f"{_image_name(stack, source)}.nii.gz")
    path = write_label_map(tmp_path / "label.nii.gz", truth, None)
    orthanc.stop()
    try:
        with pytest.raises(MONAILabelClientException) as caught:
            client.save_label(source.SeriesInstanceUID, str(path), tag="final")
        assert "kept in the local cache" in caught.value.msg and "failed" in caught.value.msg
        with pytest.raises(MONAILabelClientException) as refused:
            client.next_sample("random", {})
        assert refused.value.status_code == 503 and "not reachable" in refused.value.msg
    finally:
        orthanc.start()
    assert client.next_sample("random", {})["id"]
