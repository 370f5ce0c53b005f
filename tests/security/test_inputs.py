"""Input validation inside the handlers, replayed on a live server over loopback: each attack gets its refusal and
status, nothing lands outside the datastore and model folders, and no temporary file stays behind."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import tarfile
import threading
import time
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import requests
from monailabel.client import MONAILabelClient

from apps.ops.server_process import LiveServer, free_port, monailabel_command
from tests.dicom_factory import make_dx, save

INFER_MODELS = ("pipeline", "levels", "compression", "landmarks")
TIMEOUT = 120


def _tar(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def _png_header(width, height) -> bytes:
    """A PNG whose header declares ``width x height`` and that holds almost nothing (a decompression bomb)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(256)))


def _huge_label(path: Path) -> Path:
    """A gzip NIfTI of a few hundred kilobytes whose header says 20000 x 20000 x 1."""
    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape((20000, 20000, 1))
    raw = header.binaryblock + b"\x00" * 4 + bytes(1 << 20)
    path.write_bytes(gzip.compress(raw))
    return path


def _no_paths(server, text: str) -> None:
    for secret in ("/tmp", str(server.server_tmp), str(server.studies), str(server.root)):
        assert secret not in text, (secret, text)


def _image_file(server) -> Path:
    return next(p for p in Path(server.studies).iterdir() if p.name.startswith(server.image_id) and p.is_file())


# 1. Sessions ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "members, status",
    [
        ([_member("../x")], 400),
        ([_member("/abs-x")], 400),
        ([_member("ln", kind=tarfile.SYMTYPE, link="/etc/passwd")], 400),
        ([_member("hard", kind=tarfile.LNKTYPE, link="../../x")], 400),
        ([_member("dev", kind=tarfile.CHRTYPE)], 400),
        ([_member(f"f{i}") for i in range(1001)], 413),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "device", "too-many-members"],
)
def test_session_archives_that_leave_their_folder_are_refused(input_server, temp_snapshot, members, status):
    sessions_before = set(p.name for p in input_server.session_store.iterdir())
    answer = requests.put(
        f"{input_server.url}/session/",
        params={"uncompress": "true"},
        files={"files": ("volume.tar", _tar(members))},
        timeout=TIMEOUT,
    )
    assert answer.status_code == status, answer.text
    _no_paths(input_server, answer.text)
    for escaped in (input_server.server_tmp / "x", input_server.root / "x", input_server.session_store / "x"):
        assert not escaped.exists()
    assert set(p.name for p in input_server.session_store.iterdir()) == sessions_before
    assert temp_snapshot() == set()


def test_a_session_archive_still_opens_and_is_inferred(input_server, temp_snapshot):
    image = _image_file(input_server)
    info = tarfile.TarInfo(image.name)
    info.size = image.stat().st_size
    answer = requests.put(
        f"{input_server.url}/session/",
        params={"uncompress": "true"},
        files={"files": ("volume.tar", _tar([(info, image.read_bytes())]))},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    _no_paths(input_server, answer.text)
    session_id = answer.json()["session_id"]
    client = MONAILabelClient(input_server.url)
    _, result = client.infer("pipeline", "slicer volume name", {}, session_id=session_id)
    assert json.loads(result)["cervical_spine_found"] if isinstance(result, str) else result["cervical_spine_found"]
    client.remove_session(session_id)
    assert not (input_server.session_store / session_id).exists()
    assert temp_snapshot() == set()


def test_a_plain_session_from_the_client_opens_and_closes(input_server, temp_snapshot):
    client = MONAILabelClient(input_server.url)
    created = client.create_session(str(_image_file(input_server)))
    _no_paths(input_server, json.dumps(created))
    session_id = created["session_id"]
    assert client.get_session(session_id)["name"] == session_id
    _, result = client.infer("levels", "", {"result_extension": ".nrrd"}, session_id=session_id)
    assert result is not None
    client.remove_session(session_id)
    assert not (input_server.session_store / session_id).exists()
    assert temp_snapshot() == set()


def test_a_bad_session_id_is_refused(input_server):
    for session_id in ("%2e%2e", "ABC", "x" * 100):
        answer = requests.get(f"{input_server.url}/session/{session_id}", timeout=TIMEOUT)
        assert answer.status_code in (400, 404), answer.text
        answer = requests.post(f"{input_server.url}/infer/pipeline", params={"session_id": session_id}, timeout=TIMEOUT)
        assert answer.status_code in (400, 404), answer.text


# 2. Label tags -------------------------------------------------------------------------------------------------


BAD_TAGS = ["../../x", "/abs-tag", "a\x00b", "t" * 300, ".hidden"]


def _label(server, path: Path) -> Path:
    nib.save(nib.Nifti1Image(np.ones((4, 4, 1), np.uint8), np.eye(4)), path)
    return path


@pytest.mark.parametrize("tag", BAD_TAGS, ids=["dotdot", "absolute", "nul", "300-chars", "hidden"])
def test_label_tags_that_name_other_folders_are_refused(input_server, temp_snapshot, tmp_path, tag):
    label = _label(input_server, tmp_path / "l.nii.gz")
    answer = requests.put(
        f"{input_server.url}/datastore/label",
        params={"image": input_server.image_id, "tag": tag},
        files={"label": ("l.nii.gz", label.read_bytes())},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400 and "label tag" in answer.text, answer.text
    _no_paths(input_server, answer.text)
    assert not (Path(input_server.studies).parent / "x").exists() and not Path("/abs-tag").exists()
    objects = requests.get(f"{input_server.url}/datastore/?output=all", timeout=TIMEOUT).json()["objects"]
    assert set(objects[input_server.image_id]["labels"]) <= {"final", "original"}
    assert temp_snapshot() == set()


def test_removing_a_label_by_a_bad_tag_is_a_400(input_server):
    answer = requests.delete(
        f"{input_server.url}/datastore/label", params={"id": input_server.image_id, "tag": "../../x"}, timeout=TIMEOUT
    )
    assert answer.status_code == 400 and "label tag" in answer.text, answer.text


def test_an_infer_label_tag_is_checked_before_the_inference(input_server, temp_snapshot):
    params = json.dumps({"save_label": True, "label_tag": "../../x"})
    answer = requests.post(
        f"{input_server.url}/infer/pipeline",
        params={"image": input_server.image_id},
        data={"params": params},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400 and "label tag" in answer.text, answer.text
    assert not (Path(input_server.studies).parent / "x").exists()
    assert temp_snapshot() == set()


def test_a_bad_tag_left_in_an_index_is_ignored_on_load(tmp_path, caplog):
    from apps.datastores.local import RadiographDatastore

    studies = tmp_path / "studies"
    studies.mkdir()
    index = {
        "name": "s",
        "description": "",
        "images_dir": "",
        "labels_dir": "labels",
        "objects": {
            "img": {"image": {"ext": ".dcm", "info": {}}, "labels": {"../../x": {"ext": ".nii.gz"}, "final": {}}}
        },
    }
    save(make_dx(np.zeros((8, 8), np.uint16)), studies / "img.dcm")
    (studies / "datastore_v2.json").write_text(json.dumps(index))
    with caplog.at_level("WARNING"):
        store = RadiographDatastore(str(studies), max_image_pixels=10_000, auto_reload=False)
    assert "../../x" not in store._datastore.objects["img"].labels
    assert "not an allowed tag" in caplog.text


# 3. Inference reads datastore ids and uploads only ---------------------------------------------------------------


@pytest.mark.parametrize("model", INFER_MODELS)
def test_inference_reads_no_server_path(input_server, temp_snapshot, model):
    image_path = str(_image_file(input_server))
    for image in (image_path, "/etc/hostname", "/no/such/file.dcm", "../x", "unknown_id"):
        answer = requests.post(f"{input_server.url}/infer/{model}", params={"image": image}, timeout=TIMEOUT)
        assert answer.status_code in (400, 404), (image, answer.status_code, answer.text)
        _no_paths(input_server, answer.text)
    params = {"params": json.dumps({"image": image_path})}  # params may not swap the image for a path
    answer = requests.post(
        f"{input_server.url}/infer/{model}", params={"image": input_server.image_id}, data=params, timeout=TIMEOUT
    )
    assert answer.status_code == (404 if model == "landmarks" else 400), answer.text  # landmarks: no infer route
    assert temp_snapshot() == set()


def test_inference_without_an_image_is_a_4xx(input_server):
    answer = requests.post(f"{input_server.url}/infer/pipeline", timeout=TIMEOUT)
    assert answer.status_code == 400 and "no input" in answer.text, answer.text


def test_an_uploaded_file_is_inferred_and_its_copies_removed(input_server, temp_snapshot, tmp_path):
    client = MONAILabelClient(input_server.url, tmpdir=str(tmp_path))
    image_out, result = client.infer("pipeline", "", {}, file=str(_image_file(input_server)))
    assert result["cervical_spine_found"] and Path(image_out).exists()
    _, levels = client.infer("levels", input_server.image_id, {"result_extension": ".nrrd"})
    _no_paths(input_server, json.dumps([result, levels]))
    assert temp_snapshot() == set()  # the upload and every answer file are gone once sent


def test_an_answer_file_is_removed_when_a_later_step_fails(input_server, temp_snapshot):
    # The local datastore refuses the pipeline's findings as a level label: the answer file was written first.
    answer = requests.post(
        f"{input_server.url}/infer/pipeline",
        params={"image": input_server.image_id},
        data={"params": json.dumps({"save_label": True})},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400, answer.text
    assert temp_snapshot() == set()


# 4. Uploads bounded before they are read ---------------------------------------------------------------------------


def test_a_label_whose_header_is_huge_is_413_without_reading_it(input_server, temp_snapshot, tmp_path):
    label = _huge_label(tmp_path / "huge.nii.gz")
    assert label.stat().st_size < 2_000_000
    answer = requests.put(
        f"{input_server.url}/datastore/label",
        params={"image": input_server.image_id, "tag": "final"},
        files={"label": ("huge.nii.gz", label.read_bytes())},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 413 and "over the limit" in answer.text, answer.text
    _no_paths(input_server, answer.text)
    assert temp_snapshot() == set()


@pytest.mark.parametrize(
    "name, content, status",
    [
        ("bomb.png", _png_header(20000, 20000), 413),
        ("big.png", _png_header(10000, 10000), 413),
        ("cut.dcm", None, 400),
        ("notes.txt", b"plain text", 400),
    ],
    ids=["png-bomb", "png-10000x10000", "truncated-dicom", "not-an-image"],
)
def test_image_uploads_are_refused_by_kind_and_size(input_server, temp_snapshot, tmp_path, name, content, status):
    if content is None:  # a DICOM cut short inside its pixel data
        whole = save(make_dx(np.zeros((256, 256), np.uint16)), tmp_path / "whole.dcm").read_bytes()
        content = whole[: len(whole) - 4000]
    for route, extra in (("/datastore/image", {"image": f"probe_{Path(name).stem}"}), ("/infer/pipeline", {})):
        field = "file"
        answer = requests.put if route.startswith("/datastore") else requests.post
        response = answer(f"{input_server.url}{route}", params=extra, files={field: (name, content)}, timeout=TIMEOUT)
        assert response.status_code == status, (route, response.text)
        _no_paths(input_server, response.text)
    assert temp_snapshot() == set()


def test_the_training_list_names_no_server_path(input_server):
    answer = requests.get(f"{input_server.url}/datastore/", params={"output": "train"}, timeout=TIMEOUT)
    assert answer.status_code == 200 and answer.json(), answer.text
    assert all(not Path(item["image"]).is_absolute() for item in answer.json())
    _no_paths(input_server, answer.text)


def test_image_info_names_no_server_path(input_server):
    answer = requests.get(
        f"{input_server.url}/datastore/image/info", params={"image": input_server.image_id}, timeout=TIMEOUT
    )
    assert answer.status_code == 200 and "path" not in answer.json()
    _no_paths(input_server, answer.text)


# 5. Responsiveness -------------------------------------------------------------------------------------------------


def test_info_answers_while_inferences_run(input_server):
    """/info/ answers before a burst of inferences is over: they run off the event loop."""
    finished = []

    def infer():
        requests.post(
            f"{input_server.url}/infer/pipeline", params={"image": input_server.image_id, "output": "json"}
        ).raise_for_status()
        finished.append(time.monotonic())

    burst = [threading.Thread(target=infer) for _ in range(3)]
    for thread in burst:
        thread.start()
    time.sleep(0.5)  # the requests have reached the server
    answered = None
    with requests.get(f"{input_server.url}/info/", timeout=TIMEOUT) as response:
        response.raise_for_status()
        answered = time.monotonic()
    for thread in burst:
        thread.join(timeout=TIMEOUT)
    assert len(finished) == 3
    assert answered < max(finished), "/info/ waited for the inferences"


# The probes as the security table sends them ----------------------------------------------------------------------


def test_every_input_probe_gets_its_expected_status(input_server, temp_snapshot):
    from apps.cli.benchmarks.security_inputs import INPUT_PROBES, send_probe

    rows = [send_probe(input_server.url, probe, input_server.image_id) for probe in INPUT_PROBES]
    assert [r for r in rows if not r["ok"]] == []
    assert not (input_server.server_tmp / "x").exists() and not (Path(input_server.studies).parent / "x").exists()
    assert temp_snapshot() == set()


# Both start paths -------------------------------------------------------------------------------------------------


class StartServer(LiveServer):
    """``monailabel start_server --app .`` itself, not through ``python main.py serve``."""

    def __init__(self, studies: Path, log_path: Path):
        port = free_port()
        self.extra_env = {}
        self._spawn(port, monailabel_command(str(studies), port, {"skip_trainers": "true"}), log_path, os.environ)


def test_monailabel_start_server_gets_the_same_checks(input_server):
    with StartServer(input_server.studies, input_server.root / "start-server.log") as live:
        answer = requests.post(f"{live.url}/infer/pipeline", params={"image": "/etc/hostname"}, timeout=TIMEOUT)
        assert answer.status_code == 400 and "image id" in answer.text, answer.text
        answer = requests.post(f"{live.url}/infer/pipeline", timeout=TIMEOUT)
        assert answer.status_code == 400, answer.text
