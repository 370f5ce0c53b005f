"""Every DICOM object the app writes passes David Clunie's validator ``dciodvfy`` (Debian's dicom3tools) with no
error: the level label SEG, the levels-to-correct SEG (empty segments), the findings SEG, the overlay Secondary
Capture, the measurement SR (with and without image coordinates) and the phantom's own DX in both photometric
interpretations. Warnings are printed, not failed. A DX with a Type 1 attribute taken out must fail, so the check
is known to bite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from lib.anatomy.names import LEVEL_LABELS
from lib.io.dicom_results import findings_datasets, label_seg, measurement_report
from lib.phantom import cohort_config, label_record
from tests.dicom_factory import dciodvfy, make_dx, phantom_source, pipeline_data, save


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("conformance")
    out: dict[str, Path] = {}
    case, path = phantom_source(folder)  # internal centre, MONOCHROME2
    out["phantom DX (MONOCHROME2)"] = path
    config = cohort_config(patients=12, seed=4, centre="external", validation_fraction=0, test_fraction=0)
    index = next(i for i in range(12) if label_record(config, i)["summary"]["photometric"] == "MONOCHROME1")
    _, mono1 = phantom_source(folder / "mono1", seed=4, index=index, centre="external")
    out["phantom DX (MONOCHROME1)"] = mono1
    source = pydicom.dcmread(path, stop_before_pixels=True)
    names = {v: n for n, v in LEVEL_LABELS.items()}
    out["level label SEG"] = save(label_seg(source, case.mask, names, "Cervical levels label"), folder / "label.dcm")
    upper = np.where(np.isin(case.mask, [LEVEL_LABELS["C2"], LEVEL_LABELS["C3"]]), case.mask, 0).astype(np.uint8)
    out["levels to correct SEG (empty segments)"] = save(
        label_seg(source, upper, {}, "Cervical levels to correct", every_level=True), folder / "to_correct.dcm"
    )
    data = pipeline_data(case, {"C2/3": 0.1, "C3/4": 0.2, "C4/5": 0.93, "C5/6": 0.7})
    found = findings_datasets(source, data["pred"], data["result"], data["pixels"], data["heatmap"], data["landmarks"])
    out["findings SEG"] = save(found["seg"], folder / "findings.dcm")
    out["overlay SC"] = save(found["sc"], folder / "overlay.dcm")
    out["measurement SR"] = save(found["sr"], folder / "sr.dcm")
    unknown = pipeline_data(case, {"C4/5": 0.9}, spacing_known=False)
    out["measurement SR, no coordinates or mm"] = save(
        measurement_report(source, unknown["result"], None), folder / "sr_plain.dcm"
    )
    nothing = {"result": "no lateral cervical spine found", "segments": {}, "model_versions": {"levels": "L1"}}
    out["measurement SR, no spine found"] = save(measurement_report(source, nothing, None), folder / "sr_empty.dcm")
    sparse = make_dx(np.zeros((60, 40), np.uint16), ImagerPixelSpacing=["0.2", "0.2"])
    sparse.StudyInstanceUID, sparse.SeriesInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    label = np.zeros((60, 40), np.uint8)
    label[5:15, 5:15] = 4
    out["SEG on a sparse DX (no FoR, no Type 2s)"] = save(
        label_seg(sparse, label, {4: "C5"}, "x"), folder / "sparse.dcm"
    )
    return out


OBJECTS = [
    "phantom DX (MONOCHROME2)",
    "phantom DX (MONOCHROME1)",
    "level label SEG",
    "levels to correct SEG (empty segments)",
    "findings SEG",
    "overlay SC",
    "measurement SR",
    "measurement SR, no coordinates or mm",
    "measurement SR, no spine found",
    "SEG on a sparse DX (no FoR, no Type 2s)",
]


@pytest.mark.parametrize("name", OBJECTS)
def test_dciodvfy_finds_no_error(objects, name):
    errors, warnings = dciodvfy(objects[name])
    for line in warnings:
        print(f"{name}: {line}")
    assert not errors, f"{name}:\n" + "\n".join(errors)


def test_the_check_bites_on_a_dx_missing_a_type_1_attribute(objects, tmp_path):
    ds = pydicom.dcmread(objects["phantom DX (MONOCHROME2)"])
    del ds.BurnedInAnnotation
    errors, _ = dciodvfy(save(ds, tmp_path / "broken.dcm"))
    assert any("BurnedInAnnotation" in line for line in errors), errors
