"""``python main.py phantom --style film``: a datastore of film-style images; the default style is unchanged."""

from __future__ import annotations

import json

from apps.cli.main import build_parser, main


def test_style_defaults_to_schematic():
    args = build_parser().parse_args(["phantom", "--out", "x"])
    assert args.style == "schematic"


def test_film_style_writes_a_datastore_with_film_labels(tmp_path):
    out = tmp_path / "films"
    assert (
        main(["phantom", "--out", str(out), "--patients", "2", "--seed", "2", "--style", "film", "--workers", "1"]) == 0
    )
    labels = json.loads((out / "phantom_labels.json").read_text())
    assert sorted(labels) == ["film_2_0000", "film_2_0001"]
    assert all(entry["style"] == "film" for entry in labels.values())
    assert all((out / "labels" / "final" / f"{name}.nii.gz").is_file() for name in labels)
    store = json.loads((out / "datastore_v2.json").read_text())
    assert len(store["objects"]) == 2


def test_train_describes_a_small_cohort_whose_split_has_no_ceiling_auc(tmp_path):
    from apps.cli.train import describe_datastore

    (tmp_path / "ceiling.json").write_text(json.dumps({"auc": {"train": 0.9, "validation": None}, "seed": 1}))
    text = describe_datastore(str(tmp_path))
    assert "train 0.900" in text and "validation n/a" in text
