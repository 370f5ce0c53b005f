"""``python main.py predict`` on a DICOM radiograph, as a site without a PACS runs it: the JSON, the overlay and the
label map, and the findings as DICOM (SEG, Secondary Capture, SR) that pass dciodvfy and read back."""

from __future__ import annotations

import json
import subprocess
import sys

import highdicom as hd
import pydicom
import pytest

from apps.paths import APP_DIR
from lib.phantom import cohort_config, generate_patient
from tests.dicom_factory import dciodvfy


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """The shipped models on one phantom DX whose C2-C6 are annotated, through the command line."""
    folder = tmp_path_factory.mktemp("predict")
    from lib.phantom.dicom import write_dicom

    config = cohort_config(patients=6, seed=11)
    case = next(c for c in (generate_patient(config, i) for i in range(6)) if len(c.spec.annotated_levels) >= 5)
    source = folder / "film.dcm"
    write_dicom(source, case.stored, case.spec, config.seed)
    out = folder / "out"
    run = subprocess.run(
        [sys.executable, str(APP_DIR / "main.py"), "predict", str(source), "--out", str(out), "--threads", "1"],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return source, out, json.loads((out / "film.json").read_text())


def test_predict_writes_the_json_overlay_and_label_map(predicted):
    _, out, result = predicted
    assert result["cervical_spine_found"], result["reason"]
    assert (out / "film_overlay.png").stat().st_size > 0 and (out / "film_labels.nrrd").is_file()
    assert set(result["dicom_files"]) >= {"sc", "sr"}


def test_the_dicom_findings_pass_dciodvfy_and_read_back(predicted):
    source, _, result = predicted
    files = {kind: pydicom.dcmread(path) for kind, path in result["dicom_files"].items()}
    for kind, path in result["dicom_files"].items():
        errors, _ = dciodvfy(path)
        assert errors == [], f"{kind}: {errors}"
    study = pydicom.dcmread(source, stop_before_pixels=True).StudyInstanceUID
    assert all(ds.StudyInstanceUID == study for ds in files.values())
    if "seg" in files:
        seg = hd.seg.Segmentation.from_dataset(files["seg"])
        names = [item.SegmentLabel for item in seg.SegmentSequence]
        assert "C2" in names and [item.SegmentNumber for item in seg.SegmentSequence] == list(range(1, len(names) + 1))
    sr = hd.sr.srread(result["dicom_files"]["sr"])
    calls = {str(g.tracking_identifier): g for g in sr.content.get_planar_roi_measurement_groups()}
    evaluated = {s: e for s, e in result["segments"].items() if e["probability"] is not None}
    assert evaluated, "no segment was assessed"
    for segment, entry in evaluated.items():
        values = {m.name.meaning: float(m.value) for m in calls[f"{segment} compression"].get_measurements()}
        assert values["Probability"] == pytest.approx(entry["probability"], abs=1e-4)
        assert calls[f"{segment} compression"].roi is not None  # drawn on the film: the disc-and-canal polygon
