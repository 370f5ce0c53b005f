"""SEGs on a real Orthanc as OHIF 3.13 stores them, read by the app's DICOMweb datastore: Label Map and BINARY SEGs
become final labels by canonical name; an edited findings SEG loses its findings; of two label SEGs the newest
wins, whatever the upload order, and the label info says so; SEGs that cannot be a label (another image, unknown
names, another size) and another application's SR answer 4xx through MONAI Label's endpoints;
``GET /datastore/image`` sends the DICOM; the pipeline's write-back stores SEG, SC and SR; Orthanc going down
mid-store leaves nothing half-written."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.parse
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from fastapi import HTTPException
from monailabel.datastore.dicom import DICOMwebClientX

from apps.datastores.dicomweb import RadiographDICOMwebDatastore
from apps.ops.ohif import DicomwebServer
from apps.ops.orthanc import Orthanc
from apps.ops.server_process import free_port
from lib.anatomy.names import LEVEL_LABELS
from lib.io.labels import read_label_map, write_label_map
from tests.dicom_factory import foreign_sr, viewer_seg
from tests.untrained_models import untrained_model_dir

MAX_PIXELS = 50_000_000
OLD = "20000101000000"  # bad SEGs are dated old, so that they never are the newest label of their image


@pytest.fixture(scope="module")
def stack(phantom_cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("dicomweb_seg")
    studies = phantom_cohort(root / "studies", patients=4, seed=11)
    orthanc = Orthanc(root / "orthanc", free_port()).start()
    try:
        orthanc.upload_folder(studies)
        truth = json.loads((studies / "phantom_labels.json").read_text())
        images = []
        for path in sorted(studies.glob("*.dcm")):
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            name = next(k for k, v in truth.items() if v.get("patient_id") == ds.PatientID)
            images.append({"source": ds, "truth": read_label_map(studies / "labels" / "final" / f"{name}.nii.gz")})
        _store_segs(orthanc, images)
        conf = {"model_dir": str(untrained_model_dir(root / "model")), "skip_trainers": "true"}
        with DicomwebServer(orthanc.dicomweb_url, root, conf=conf) as server:
            yield {"orthanc": orthanc, "server": server, "images": images, "root": root}
    finally:
        orthanc.stop()


def _masks(truth: np.ndarray, names: dict[str, str]) -> dict[str, np.ndarray]:
    """Segment label -> mask of the canonical level it stands for."""
    return {
        label: truth == LEVEL_LABELS[level] for label, level in names.items() if (truth == LEVEL_LABELS[level]).any()
    }


def _store(orthanc: Orthanc, ds) -> str:
    buffer = BytesIO()
    ds.save_as(buffer, write_like_original=False)
    request = urllib.request.Request(
        f"{orthanc.url}/instances", data=buffer.getvalue(), method="POST", headers={"Content-Type": "application/dicom"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read())["Status"] == "Success"
    return str(ds.SeriesInstanceUID)


def _store_segs(orthanc: Orthanc, images: list[dict]) -> None:
    lower = {name.lower(): name for name in LEVEL_LABELS}  # OHIF users type "c5", "Spinal_Canal"...
    img0, img1, img2, img3 = images
    img0["seg"] = _store(
        orthanc, viewer_seg(img0["source"], _masks(img0["truth"], lower), when="20250301101500", labelmap=True)
    )
    img1["seg"] = _store(orthanc, viewer_seg(img1["source"], _masks(img1["truth"], {n: n for n in LEVEL_LABELS})))
    # An edited findings SEG: the pipeline's write-back opened in OHIF, corrected and stored again.
    finding = np.zeros_like(img2["truth"], dtype=bool)
    finding[img2["truth"] == LEVEL_LABELS["spinal_canal"]] = True
    edited = dict(_masks(img2["truth"], {n: n for n in LEVEL_LABELS}), **{"C4/5 compression p=0.93": finding})
    img2["seg"] = _store(orthanc, viewer_seg(img2["source"], edited, description="Cervical cord findings"))
    # Two label SEGs for one image: the newer one (fewer levels) is uploaded first.
    newer = {n: n for n in ("C2", "C3", "C4", "spinal_canal")}
    img3["newer"] = _store(orthanc, viewer_seg(img3["source"], _masks(img3["truth"], newer), when="20250102080000"))
    img3["older"] = _store(
        orthanc, viewer_seg(img3["source"], _masks(img3["truth"], {n: n for n in LEVEL_LABELS}), when="20250101080000")
    )
    # SEGs that cannot be a label, dated old so they never are an image's newest label.
    shape = img1["truth"].shape
    some = np.zeros(shape, dtype=bool)
    some[10:40, 10:40] = True
    img1["unknown_names"] = _store(orthanc, viewer_seg(img1["source"], {"C5": some, "Segment 1": ~some}, when=OLD))
    small = np.zeros((100, 80), dtype=bool)
    small[10:20, 10:20] = True
    img1["wrong_size"] = _store(orthanc, viewer_seg(img1["source"], {"C5": small}, when=OLD, rows_cols=(100, 80)))
    stranger = copy.deepcopy(img1["source"])  # a radiograph that is not on the server
    stranger.SeriesInstanceUID, stranger.SOPInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    img1["other_image"] = _store(orthanc, viewer_seg(stranger, {"C5": some}, when=OLD))
    wrong_instance = viewer_seg(img1["source"], {"C5": some}, when=OLD)
    other = pydicom.uid.generate_uid()
    wrong_instance.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID = other
    derived = wrong_instance.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    derived.ReferencedSOPInstanceUID = other
    wrong_instance.SourceImageSequence[0].ReferencedSOPInstanceUID = other
    img1["other_instance"] = _store(orthanc, wrong_instance)
    # Another application's measurement report in the same study (a reader's ruler).
    img1["foreign_sr"] = _store(orthanc, foreign_sr(img1["source"]))


def _datastore(stack, cache: Path) -> RadiographDICOMwebDatastore:
    client = DICOMwebClientX(url=stack["orthanc"].dicomweb_url)
    client.set_http_retry_params(retry=False)
    return RadiographDICOMwebDatastore(client, str(cache), MAX_PIXELS)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _label(stack, label: str) -> tuple[int, bytes]:
    return _get(f"{stack['server'].url}/datastore/label?{urllib.parse.urlencode({'label': label, 'tag': 'final'})}")


def _nifti(body: bytes, tmp_path: Path) -> np.ndarray:
    path = tmp_path / "label.nii.gz"
    path.write_bytes(body)
    return read_label_map(path)


def test_label_map_and_binary_segs_are_final_labels_by_canonical_name(stack, tmp_path):
    store = _datastore(stack, tmp_path / "cache")
    images = stack["images"]
    pairs = {p["image"]: p["label"] for p in store._label_pairs()}
    assert pairs[str(images[0]["source"].SeriesInstanceUID)] == images[0]["seg"]  # the Label Map SEG
    assert pairs[str(images[1]["source"].SeriesInstanceUID)] == images[1]["seg"]  # the BINARY SEG
    for image in images[:2]:
        np.testing.assert_array_equal(
            read_label_map(store.get_label_uri(image["seg"], "final", str(image["source"].SeriesInstanceUID))),
            image["truth"],
        )
    # Through MONAI Label's endpoint as a client fetches it.
    status, body = _label(stack, images[0]["seg"])
    assert status == 200
    np.testing.assert_array_equal(_nifti(body, tmp_path), images[0]["truth"])
    info = json.loads(_get(f"{stack['server'].url}/datastore/label/info?label={images[0]['seg']}&tag=final")[1])
    assert info["segmentation_type"] == "LABELMAP" and info["levels"] == sorted(
        info["levels"], key=list(LEVEL_LABELS).index
    )


def test_an_edited_findings_seg_is_a_label_without_its_findings(stack, tmp_path):
    store, image = _datastore(stack, tmp_path / "cache"), stack["images"][2]
    label = read_label_map(store.get_label_uri(image["seg"], "final"))
    np.testing.assert_array_equal(label, image["truth"])  # the canal under the finding is still canal
    info = store.get_label_info(str(image["source"].SeriesInstanceUID), "final")
    assert info["dropped_findings"] == ["C4/5 compression p=0.93"] and info["SeriesInstanceUID"] == image["seg"]


def test_of_two_label_segs_the_newest_is_used_and_said_so(stack, tmp_path):
    image, server = stack["images"][3], stack["server"]
    uid = str(image["source"].SeriesInstanceUID)
    status, body = _label(stack, uid)  # an image id stands for its label
    assert status == 200
    expected = np.where(
        np.isin(image["truth"], [LEVEL_LABELS[n] for n in ("C2", "C3", "C4", "spinal_canal")]), image["truth"], 0
    )
    np.testing.assert_array_equal(_nifti(body, tmp_path), expected)
    info = json.loads(_get(f"{server.url}/datastore/label/info?label={uid}&tag=final")[1])
    assert info["SeriesInstanceUID"] == image["newer"] and info["older_label_series"] == [image["older"]]
    assert "newest of 2 label SEGs by SeriesDate/SeriesTime" in info["chosen"]
    assert f"has 2 label SEGs: using the newest, series {image['newer']}" in server.log_tail(500_000)
    store = _datastore(stack, tmp_path / "cache")
    training = {Path(item["image"]).parent.name: read_label_map(item["label"]) for item in store.datalist()}
    np.testing.assert_array_equal(training[uid], expected)
    assert len(training) == 4  # every radiograph once, whatever SEGs it has


@pytest.mark.parametrize(
    "bad, status, says",
    [
        ("unknown_names", 400, "['Segment 1'] are not level names; name each segment one of C2, C3, C4, C5, C6, C7"),
        ("wrong_size", 400, "is 100 x 80 pixels"),
        ("other_image", 400, "not a radiograph on this server"),
        ("other_instance", 400, "not the radiograph"),
        ("foreign_sr", 400, "modality is SR, not SEG"),
    ],
)
def test_a_seg_that_cannot_be_a_label_answers_4xx_with_the_reason(stack, bad, status, says):
    code, body = _label(stack, stack["images"][1][bad])
    assert code == status, body
    assert says in json.loads(body)["detail"]


def test_get_datastore_image_sends_the_radiographs_dicom(stack):
    source = stack["images"][0]["source"]
    status, body = _get(f"{stack['server'].url}/datastore/image?image={source.SeriesInstanceUID}")
    assert status == 200
    ds = pydicom.dcmread(BytesIO(body))
    assert ds.SOPInstanceUID == source.SOPInstanceUID and ds.pixel_array.shape == (source.Rows, source.Columns)
    assert _get(f"{stack['server'].url}/datastore/image?image=1.2.3.4.5")[0] == 404


def _study_series(orthanc: Orthanc, study: str) -> dict[str, str]:
    found = orthanc.get(f"/dicom-web/studies/{study}/series?includefield=SeriesDescription")
    return {s["0020000E"]["Value"][0]: s["00080060"]["Value"][0] for s in found}


def test_write_back_stores_seg_sc_and_sr_and_nothing_while_orthanc_is_down(stack, tmp_path):
    orthanc, image = stack["orthanc"], stack["images"][1]
    store = _datastore(stack, tmp_path / "cache")
    uid, study = str(image["source"].SeriesInstanceUID), str(image["source"].StudyInstanceUID)
    label = write_label_map(tmp_path / "pred.nrrd", image["truth"], None)
    result = {"result": "no cord compression found", "segments": {}, "model_versions": {"levels": "test"}}
    before = _study_series(orthanc, study)
    seg_uid = store.write_back(uid, str(label), result)
    added = {k: v for k, v in _study_series(orthanc, study).items() if k not in before}
    assert sorted(added.values()) == ["OT", "SEG", "SR"] and added[seg_uid] == "SEG"
    before = _study_series(orthanc, study)
    never_fetched = str(stack["images"][2]["source"].SeriesInstanceUID)
    orthanc.stop()
    try:
        with pytest.raises(HTTPException) as down:
            store.write_back(uid, str(label), result)
        assert down.value.status_code == 503 and "not reachable" in down.value.detail
        with pytest.raises(HTTPException) as fetch:
            store.get_image_uri(never_fetched)
        assert fetch.value.status_code == 503
    finally:
        orthanc.start()
    assert _study_series(orthanc, study) == before  # nothing of the failed write-back was stored
    cache = tmp_path / "cache"
    assert not [p for p in cache.rglob("*partial*")] and not list(cache.rglob(never_fetched))  # no half download
    assert Path(store.get_image_uri(never_fetched)).is_file()  # and it comes once Orthanc is back


def test_the_levels_answer_saved_is_a_seg_to_correct_with_every_level_named_and_no_label(stack):
    orthanc, server, image = stack["orthanc"], stack["server"], stack["images"][0]
    uid, study = str(image["source"].SeriesInstanceUID), str(image["source"].StudyInstanceUID)
    final_before = json.loads(_get(f"{server.url}/datastore/label/info?label={uid}&tag=final")[1])
    before = _study_series(orthanc, study)
    body = urllib.parse.urlencode({"params": json.dumps({"save_label": True, "label_tag": "original"})}).encode()
    request = urllib.request.Request(f"{server.url}/infer/levels?image={uid}&output=json", data=body, method="POST")
    try:
        urllib.request.urlopen(request, timeout=300).close()
    except urllib.error.HTTPError as exc:
        pytest.fail(f"HTTP {exc.code}: {exc.read()[:500]!r}")
    added = [k for k in _study_series(orthanc, study) if k not in before]
    assert len(added) == 1, added
    seg = pydicom.dcmread(BytesIO(orthanc.series_file(added[0])))
    assert seg.SeriesDescription == "Cervical levels to correct" and seg.Modality == "SEG"
    assert [str(s.SegmentLabel) for s in seg.SegmentSequence] == list(LEVEL_LABELS)  # every level, by its name
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uid
    # The model's answer is no annotator's label: the image's final label is still the SEG it was.
    final_after = json.loads(_get(f"{server.url}/datastore/label/info?label={uid}&tag=final")[1])
    assert final_after["SeriesInstanceUID"] == final_before["SeriesInstanceUID"] == image["seg"]
