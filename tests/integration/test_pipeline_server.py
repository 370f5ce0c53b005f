"""The pipeline through a real server and MONAI Label's client: listed as a segmentation model, a clear answer on
films without a cervical spine (no compression call), and 4xx answers that keep the server up."""

from __future__ import annotations

import json

import pytest
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException

from apps.ops.server_process import LiveServer
from lib.io.labels import read_label_map
from lib.results.pipeline import NO_SPINE
from tests.dicom_factory import pydicom_data_file
from tests.untrained_models import untrained_model_dir


@pytest.fixture(scope="module")
def server(phantom_cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    studies = phantom_cohort(root / "studies", patients=2, seed=5)
    # Freshly initialised weights: enough to serve; such a levels model finds no spine on most films.
    model_dir = untrained_model_dir(root / "model")
    with LiveServer(studies, conf={"model_dir": str(model_dir), "skip_trainers": "true"}) as live:
        yield live


@pytest.fixture
def client(server):
    return MONAILabelClient(server.url)


def _infer(client, image_id, tmp_path):
    label_file, result = client.infer("pipeline", image_id, {"result_extension": ".nrrd"})
    return label_file, json.loads(result) if isinstance(result, str) else result


def test_pipeline_is_listed_as_a_segmentation_model(client):
    info = client.info()["models"]["pipeline"]
    assert info["type"] == "segmentation" and info["dimension"] == 2
    assert info["labels"]["C5/6 compression"] == 11 and info["labels"]["spinal_canal"] == 7


def test_phantom_radiograph_gets_a_complete_answer(client, tmp_path):
    image_id = sorted(client.datastore()["objects"])[0]
    label_file, result = _infer(client, image_id, tmp_path)
    assert set(result["segments"]) == {"C2/3", "C3/4", "C4/5", "C5/6", "C6/7"}
    assert set(result["model_versions"]) >= {"levels"} and result["radiograph"]["spacing_mm"] is not None
    label = read_label_map(label_file)
    assert label.shape == tuple(result["radiograph"]["shape"])
    assert set(result["label_names"].values()) == set(label.ravel().tolist()) - {0}
    if not result["cervical_spine_found"]:  # the usual outcome with untrained weights
        assert result["result"] == NO_SPINE and result["compression_called"] is False
        assert all(s["probability"] is None for s in result["segments"].values())
    else:
        assert result["summary"]["evaluable_segments"] or "not assessed" in result["result"]


def test_chest_radiograph_is_answered_no_cervical_spine(client, tmp_path):
    client.upload_image(str(pydicom_data_file("RG1_UNCR.dcm")), image_id="chest_cr")
    _, result = _infer(client, "chest_cr", tmp_path)
    assert result["result"] == NO_SPINE and result["compression_called"] is False
    assert result["summary"]["positive"] is None
    assert any("spacing unknown" in w for w in result["warnings"])


def test_missing_image_gets_a_4xx_with_a_message_and_the_server_keeps_answering(client, tmp_path):
    with pytest.raises(MONAILabelClientException) as caught:
        _infer(client, "no_such_image", tmp_path)
    assert "Status: 400" in caught.value.msg and "not in the datastore" in caught.value.msg
    assert "pipeline" in client.info()["models"]
