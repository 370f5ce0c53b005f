"""``benchmark realfilms``: the shipped pipeline on a folder of two phantom films and one image that is no spine."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from apps.cli.benchmarks.realfilms import REPORT, SHEET, run_films
from apps.cli.predict import build_pipeline
from apps.paths import APP_DIR
from lib.phantom import cohort_config, generate_patient
from lib.phantom.dicom import write_dicom
from lib.results.contact_sheet import contact_sheet


@pytest.fixture(scope="module")
def report(tmp_path_factory, one_torch_thread):
    folder = tmp_path_factory.mktemp("films")
    config = cohort_config(patients=6, seed=11)
    cases = [c for c in (generate_patient(config, i) for i in range(6)) if len(c.spec.annotated_levels) >= 5][:2]
    for k, case in enumerate(cases):
        write_dicom(folder / f"phantom_{k}.dcm", case.stored, case.spec, config.seed)
    rng = np.random.default_rng(0)
    noise = np.clip(rng.normal(128, 40, (600, 480)), 0, 255).astype(np.uint8)
    Image.fromarray(noise).save(folder / "noise.png")
    pipeline, _ = build_pipeline({}, APP_DIR)
    out = folder / "out"
    return run_films(pipeline, folder, out), out


def test_the_json_says_what_was_found_per_film(report):
    result, out = report
    assert json.loads((out / REPORT).read_text()) == result
    films = result["per_film"]
    assert sorted(films) == ["noise.png", "phantom_0.dcm", "phantom_1.dcm"]
    for name in ("phantom_0.dcm", "phantom_1.dcm"):
        assert films[name]["cervical_spine_found"], films[name]["reason"]
        assert films[name]["c2_anchored"] and films[name]["levels_found"][0] == "C2"
        assert any(call is not None for call in films[name]["segments"].values())
    noise = films["noise.png"]
    assert not noise["cervical_spine_found"] and noise["reason"] and noise["levels_found"] == []
    assert all(call is None for call in noise["segments"].values())
    assert result["films"] == 3 and result["cervical_spine_found"] == 2


def test_the_sheet_has_one_tile_per_film(report):
    _, out = report
    sheet = Image.open(out / SHEET)
    blank = contact_sheet([(Image.new("RGB", (8, 8)), "")] * 3)
    assert sheet.size == blank.size  # one row of three cells
    pixels = np.asarray(sheet.convert("L")).astype(float)
    cell = pixels.shape[1] // 3
    for k in range(3):  # every cell holds a picture, not just the background
        assert pixels[:300, k * cell + 8 : (k + 1) * cell - 8].std() > 5
