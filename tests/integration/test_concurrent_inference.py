"""Concurrent inference: with MONAI Label running several inferences at once (MONAI_LABEL_INFER_CONCURRENCY > 1),
every request borrows networks of its own, so answers equal the sequential ones and Grad-CAM still works."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from monailabel.client import MONAILabelClient

from apps.ops.server_process import LiveServer

PARAMS = {"result_extension": ".nrrd", "result_dtype": "uint8"}


@pytest.fixture(scope="module")
def server(phantom_cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    studies = phantom_cohort(root / "studies", patients=3, seed=11)
    mp = pytest.MonkeyPatch()
    mp.setenv("MONAI_LABEL_INFER_CONCURRENCY", "3")  # the shipped models, three inferences at a time
    try:
        with LiveServer(studies, conf={"skip_trainers": "true"}) as live:
            yield live
    finally:
        mp.undo()


def _segments(server, image_id: str) -> dict:
    _, result = MONAILabelClient(server.url).infer("pipeline", image_id, PARAMS)
    result = json.loads(result) if isinstance(result, str) else result
    return {
        "probabilities": {s: e["probability"] for s, e in result["segments"].items()},
        "peaks": {s: e["heatmap_peak"] for s, e in result["segments"].items()},
        "heatmap": result["heatmap"]["data"] if result.get("heatmap") else None,
        "versions": result["model_versions"],
    }


def test_concurrent_pipeline_answers_equal_the_sequential_ones(server):
    images = sorted(MONAILabelClient(server.url).datastore()["objects"])
    sequential = {image_id: _segments(server, image_id) for image_id in images}
    assert any(p is not None for answer in sequential.values() for p in answer["probabilities"].values())
    jobs = [image_id for image_id in images for _ in range(3)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(lambda image_id: (image_id, _segments(server, image_id)), jobs))
    for image_id, answer in answers:
        assert answer == sequential[image_id], image_id
