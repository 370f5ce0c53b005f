"""The app in a real MONAI Label server, driven by MONAI Label's own client class (the REST calls Slicer makes)."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException

from apps.ops.server_process import LiveServer
from tests.dicom_factory import make_dx, pydicom_data_file, save


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    studies = tmp_path_factory.mktemp("studies")
    with LiveServer(studies) as live:
        yield live


@pytest.fixture
def client(server):
    return MONAILabelClient(server.url)


def test_info_names_the_app_and_its_labels(client):
    info = client.info()
    assert info["name"] == "Cervical cord compression (lateral radiograph)"
    assert info["labels"]["spinal_canal"] == 7 and info["labels"]["C2"] == 1
    assert {"random", "first"} <= set(info["strategies"])


def test_dicom_upload_is_listed_with_its_provenance(client, server):
    client.upload_image(str(pydicom_data_file("RG1_UNCR.dcm")), image_id="chest_cr")
    with urllib.request.urlopen(f"{server.url}/datastore/image/info?image=chest_cr") as response:
        info = json.loads(response.read())
    assert info["name"] == "chest_cr.dcm"
    assert info["radiograph"]["spacing_source"] == "unknown" and info["radiograph"]["shape"] == [1955, 1841]
    assert "chest_cr" in client.datastore()["objects"]


@pytest.mark.parametrize(
    "name, content, status, message",
    [
        ("notes.dcm", b"plain text, not DICOM", 400, "upload bad_text: not a DICOM file"),
        ("trunc.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 400, "truncated or corrupt"),
    ],
)
def test_bad_uploads_get_a_4xx_with_the_reason(client, tmp_path, name, content, status, message):
    (tmp_path / name).write_bytes(content)
    image_id = "bad_text" if name.endswith(".dcm") else "bad_png"
    with pytest.raises(MONAILabelClientException) as caught:
        client.upload_image(str(tmp_path / name), image_id=image_id)
    assert f"Status: {status}" in caught.value.msg and message in caught.value.msg
    assert image_id not in client.datastore()["objects"]


def test_multiframe_and_oversized_uploads_are_refused_and_the_server_keeps_answering(client, tmp_path):
    ramp = np.arange(32 * 40, dtype=np.uint16).reshape(32, 40)
    multi = make_dx(ramp, NumberOfFrames=2)
    multi.PixelData = np.stack([ramp, ramp]).tobytes()
    huge = make_dx(ramp)
    huge.Rows = huge.Columns = 30000
    for path, status, message in (
        (save(multi, tmp_path / "multi.dcm"), 415, "multi-frame DICOM with 2 frames"),
        (save(huge, tmp_path / "huge.dcm"), 413, "over the limit"),
    ):
        with pytest.raises(MONAILabelClientException) as caught:
            client.upload_image(str(path), image_id=path.stem)
        assert f"Status: {status}" in caught.value.msg and message in caught.value.msg
    assert client.info()["name"].startswith("Cervical")


def test_unsafe_image_id_is_refused(client):
    with pytest.raises(MONAILabelClientException) as caught:
        client.upload_image(str(pydicom_data_file("RG1_UNCR.dcm")), image_id="../escape")
    assert "Status: 400" in caught.value.msg and "not allowed" in caught.value.msg
