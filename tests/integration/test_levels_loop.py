"""The annotation loop through the real server and MONAI Label's client (the REST calls 3D Slicer makes):
uncertainty scoring when asked (never by itself: ``auto_scoring`` is off), next sample, inference, a corrected label
in Slicer's own segment order, training, and the new weights served without a restart. Plus the levels model's
bad-input answers.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException

from apps.cli.phantom import make_cohort
from apps.ops.server_process import LiveServer
from lib.anatomy.names import LEVEL_LABELS
from lib.io.labels import read_label_map, write_label_map
from lib.models.networks import levels_network

UNLABELLED = ("phantom_3_0001", "phantom_3_0002", "phantom_3_0003")
APP_DIR = Path(__file__).resolve().parents[2]
SHIPPED = APP_DIR / "model" / "levels.pt"


def _poor_weights(path) -> None:
    """A served model that predicts background everywhere (zeroed output block): any real model beats it."""
    network = levels_network()
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if name.startswith("model.2."):  # the final up-sampling block that produces the class logits
                parameter.zero_()
    torch.save({"model": network.state_dict()}, path)


def _previous_run_checkpoint(model_dir: Path) -> None:
    """The shipped weights as the checkpoint of an earlier run, which training resumes from (as after a restart)."""
    if not SHIPPED.is_file():
        pytest.fail(f"{SHIPPED} is missing: the shipped levels weights are part of the repository")
    run_dir = model_dir / "train" / "levels" / "train_01"
    run_dir.mkdir(parents=True)
    shutil.copyfile(SHIPPED, run_dir / "model.pt")


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    studies = make_cohort(root / "studies", patients=10, seed=3, preset="cohort", workers=1)
    truth = {}
    for image_id in UNLABELLED:  # these become the images still to annotate
        label_file = studies / "labels" / "final" / f"{image_id}.nii.gz"
        truth[image_id] = read_label_map(label_file)
        label_file.unlink()
    (studies / "datastore_v2.json").unlink()  # re-indexed at start-up without the removed labels
    from apps.cli.phantom import index_cohort

    index_cohort(studies)
    model_dir = root / "model"
    model_dir.mkdir()
    _poor_weights(model_dir / "levels.pt")
    _previous_run_checkpoint(model_dir)
    with LiveServer(studies, conf={"model_dir": str(model_dir), "models": "levels"}) as server:
        yield {
            "server": server,
            "client": MONAILabelClient(server.url),
            "truth": truth,
            "model_dir": model_dir,
            "studies": studies,
        }


def _scoring_tasks(url: str) -> list[dict]:
    """Every scoring task the server has started (``GET /scoring/?all=true``; 404 while there is none)."""
    try:
        with urllib.request.urlopen(f"{url}/scoring/?all=true", timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise


def _score(url: str, method: str, timeout_s: float = 300) -> dict:
    """``POST /scoring/<method>`` as Slicer sends it (a task process of its own), then wait for the task to end."""
    request = urllib.request.Request(f"{url}/scoring/{method}", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        task = json.loads(response.read())
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = next(t for t in _scoring_tasks(url) if t["id"] == task["id"])
        if task["status"] not in ("SUBMITTED", "RUNNING"):
            return task
        time.sleep(1)
    raise TimeoutError(f"scoring {method} still {task['status']} after {timeout_s} s")


def test_phantom_datastore_counts_its_images_and_labels(loop):
    with urllib.request.urlopen(f"{loop['server'].url}/datastore/?output=stats", timeout=30) as response:
        stats = json.loads(response.read())
    assert stats["total"] == 10 and stats["completed"] == 10 - len(UNLABELLED)
    info = loop["client"].datastore()["objects"]["phantom_3_0000"]["image"]["info"]
    assert set(info["segments"]) == {"C2/3", "C3/4", "C4/5", "C5/6", "C6/7"} and info["split"] == "train"


def test_uncertainty_scoring_when_asked_and_next_sample(loop):
    url = loop["server"].url
    assert _scoring_tasks(url) == []  # nothing was scored at start-up
    assert _score(url, "levels_uncertainty")["status"] == "DONE"
    deadline = time.monotonic() + 10  # the task process wrote the index; the server reloads it a moment later
    while True:
        objects = loop["client"].datastore()["objects"]
        scores = {
            i: o["image"]["info"]["levels_uncertainty"]
            for i, o in objects.items()
            if "levels_uncertainty" in o["image"]["info"]
        }
        if set(scores) == set(UNLABELLED) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(scores) == set(UNLABELLED)
    sample = loop["client"].next_sample("levels_uncertainty", {})
    assert sample["id"] == max(scores, key=scores.get)
    assert len(_scoring_tasks(url)) == 1  # the next sample started no scoring of its own


def test_inference_answers_with_a_label_file_on_the_radiograph_geometry(loop):
    result_file, params = loop["client"].infer("levels", UNLABELLED[0], {})
    assert params["model"] == "levels" and params["model_version"] == "untrained"
    assert read_label_map(result_file).shape == loop["truth"][UNLABELLED[0]].shape
    assert params["cervical_spine_found"] is False  # the untrained model finds nothing, and says so


def test_slicer_label_in_its_own_segment_order_is_stored_canonically(loop, tmp_path):
    image_id = UNLABELLED[0]
    truth = loop["truth"][image_id]
    slicer_order = ["spinal_canal", "C7", "C6", "C5", "C4", "C3", "C2"]  # Slicer numbers segments as listed
    client_label = np.zeros_like(truth)
    for idx, name in enumerate(slicer_order, start=1):
        client_label[truth == LEVEL_LABELS[name]] = idx
    path = write_label_map(tmp_path / "slicer.nii.gz", client_label, None)
    label_info = [{"name": name, "idx": idx} for idx, name in enumerate(slicer_order, start=1)]
    loop["client"].save_label(image_id, str(path), tag="final", params={"label_info": label_info})
    stored = read_label_map(loop["studies"] / "labels" / "final" / f"{image_id}.nii.gz")
    np.testing.assert_array_equal(stored, truth)


@pytest.mark.parametrize("case", ["wrong_shape", "unknown_name", "empty"])
def test_bad_labels_are_refused_with_the_reason(loop, tmp_path, case):
    image_id = UNLABELLED[1]
    truth = loop["truth"][image_id]
    label, params, message = truth, {}, ""
    if case == "wrong_shape":
        label, message = truth[:-10], "but the image is"
    elif case == "unknown_name":
        params, message = {"label_info": [{"name": "liver", "idx": 1}]}, "label names ['liver'] are not known"
    else:
        label, message = np.zeros_like(truth), "empty"
    path = write_label_map(tmp_path / f"{case}.nii.gz", label, None)
    with pytest.raises(MONAILabelClientException) as caught:
        loop["client"].save_label(image_id, str(path), tag="final", params=params)
    assert "Status: 400" in caught.value.msg and message in caught.value.msg
    assert not (loop["studies"] / "labels" / "final" / f"{image_id}.nii.gz").exists()


def test_training_publishes_better_weights_that_are_served_without_restart(loop):
    client = loop["client"]
    before = (
        json.loads((loop["model_dir"] / "levels.json").read_text())
        if (loop["model_dir"] / "levels.json").exists()
        else {}
    )
    scoring_tasks = len(_scoring_tasks(loop["server"].url))
    client.train_start("levels", {"max_epochs": 1, "train_batch_size": 4, "val_batch_size": 2})
    deadline = time.monotonic() + 420
    status = client.train_status()
    while status.get("status") in ("SUBMITTED", "RUNNING") and time.monotonic() < deadline:
        time.sleep(2)
        status = client.train_status()
    assert status["status"] == "DONE", status
    assert len(_scoring_tasks(loop["server"].url)) == scoring_tasks  # training started no scoring of its own
    card = json.loads((loop["model_dir"] / "levels.json").read_text())
    assert card.get("version") != before.get("version") and card["validation_score"] > 0
    _, params = client.infer("levels", UNLABELLED[2], {})
    assert params["model_version"] == card["version"]  # reloaded because the weight file changed
    assert params["cervical_spine_found"] and {"C2", "C3", "C4", "C5"} <= set(params["levels"]["found"])
