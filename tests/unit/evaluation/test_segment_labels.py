"""Importing per-segment MRI labels from CSV: good files update the index once; any bad row imports nothing."""

import json

import pytest

from apps.cli.import_labels import import_labels
from apps.cli.phantom import make_cohort
from lib.core.errors import BadInputError
from lib.evaluation.segment_labels import merge_segments, parse_segment_labels

IMAGES = ["img_a", "img_b", "img_c"]
PATIENTS = {"P1": ["img_a"], "P2": ["img_b", "img_c"]}


def _write(tmp_path, text, name="labels.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_image_rows_with_kang_derive_compression(tmp_path):
    path = _write(tmp_path, "image_id,segment,kang\nimg_a,C5/6,2\nimg_a,C4/5,1\nimg_b,C5/6,0\n")
    parsed = parse_segment_labels(path, IMAGES, PATIENTS, kang_threshold=2)
    assert parsed["rows"] == 3 and parsed["id_column"] == "image_id"
    assert parsed["updates"]["img_a"] == {
        "C5/6": {"compression": 1, "kang": 2, "evaluable": True},
        "C4/5": {"compression": 0, "kang": 1, "evaluable": True},
    }
    assert (
        parse_segment_labels(path, IMAGES, PATIENTS, kang_threshold=1)["updates"]["img_a"]["C4/5"]["compression"] == 1
    )


def test_patient_rows_label_every_image_of_the_patient(tmp_path):
    path = _write(tmp_path, "Patient_ID,Segment,Compression\nP2,C3/4,1\n")
    updates = parse_segment_labels(path, IMAGES, PATIENTS)["updates"]
    assert set(updates) == {"img_b", "img_c"} and updates["img_c"]["C3/4"] == {
        "compression": 1,
        "kang": None,
        "evaluable": True,
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("image_id,segment,compression\nimg_x,C5/6,1\n", "row 2: image_id 'img_x' is not in the datastore"),
        ("image_id,segment,compression\nimg_a,C7/T1,1\n", "row 2: segment 'C7/T1' is not one of"),
        ("image_id,segment,compression\nimg_a,C5/6,2\n", "row 2: compression '2' is not one of 0, 1"),
        ("image_id,segment,kang\nimg_a,C5/6,4\n", "row 2: kang '4' is not one of 0, 1, 2, 3"),
        ("image_id,segment,compression\nimg_a,C5/6,1\nimg_a,C5/6,0\n", "rows 2 and 3: duplicate"),
        ("image_id,segment,compression,kang\nimg_a,C5/6,0,3\n", "row 2: compression 0 disagrees with kang 3"),
        ("image_id,segment,compression,kang\nimg_a,C5/6,,\n", "row 2: neither compression nor kang"),
        ("image,segment,compression\nimg_a,C5/6,1\n", "needs exactly one of the columns image_id or patient_id"),
    ],
)
def test_bad_rows_are_reported_by_row_number(tmp_path, text, message):
    with pytest.raises(BadInputError) as caught:
        parse_segment_labels(_write(tmp_path, text), IMAGES, PATIENTS)
    assert message in str(caught.value)


def test_every_bad_row_is_listed_not_only_the_first(tmp_path):
    path = _write(tmp_path, "image_id,segment,compression\nimg_a,C5/6,1\nimg_x,C5/6,1\nimg_b,C9/10,1\n")
    with pytest.raises(BadInputError) as caught:
        parse_segment_labels(path, IMAGES, PATIENTS)
    text = str(caught.value)
    assert "2 problem(s), nothing imported" in text and "row 3:" in text and "row 4:" in text and "row 2:" not in text


def test_merge_keeps_other_segments():
    info = {"segments": {"C2/3": {"compression": 0}, "C5/6": {"compression": 0}}}
    assert merge_segments(info, {"C5/6": {"compression": 1}}) == {
        "C2/3": {"compression": 0},
        "C5/6": {"compression": 1},
    }


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("cohort") / "store", patients=3, seed=3, workers=1)


def _index(studies):
    return json.loads((studies / "datastore_v2.json").read_text())


def test_import_into_a_datastore_all_or_nothing(studies, tmp_path):
    objects = _index(studies)["objects"]
    image_ids = sorted(objects)
    patient = objects[image_ids[1]]["image"]["info"]["patient_id"]
    bad = _write(tmp_path, f"image_id,segment,kang\n{image_ids[0]},C5/6,3\nnobody,C5/6,3\n", "bad.csv")
    before = (studies / "datastore_v2.json").read_bytes()
    with pytest.raises(BadInputError, match="row 3"):
        import_labels(bad, studies)
    assert (studies / "datastore_v2.json").read_bytes() == before

    good = _write(tmp_path, f"patient_id,segment,kang\n{patient},C5/6,3\n{patient},C2/3,0\n", "good.csv")
    report = import_labels(good, studies)
    assert report == {
        "rows": 2,
        "images_updated": 1,
        "images_without_labels": len(image_ids) - 1,
        "id_column": "patient_id",
    }
    segments = _index(studies)["objects"][image_ids[1]]["image"]["info"]["segments"]
    assert segments["C5/6"] == {"compression": 1, "kang": 3, "evaluable": True}
    assert segments["C2/3"] == {"compression": 0, "kang": 0, "evaluable": True}
    assert set(segments) == {"C2/3", "C3/4", "C4/5", "C5/6", "C6/7"}  # the phantom's other segments kept
