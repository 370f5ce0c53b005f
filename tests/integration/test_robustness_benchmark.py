"""``benchmark robustness``: the shipped pipeline on two phantom films under three shifts, scored on shifted truth."""

from __future__ import annotations

import argparse
import json
from collections import Counter

import pytest
from PIL import Image

from apps.cli.benchmarks.robustness import FIGURE, REPORT, run_robustness_benchmark
from apps.datastores.local import RadiographDatastore

SHIFTS = ("none", "mirrored", "jpeg_8bit")
SHARES = ("spine_found", "c2_in_view", "level_dice", "level_identity", "segment_auc", "segments_assessed")
COUNTS = ("films_levels_wrong", "positive_calls_levels_wrong", "confident_calls_levels_wrong", "errors")


@pytest.fixture(scope="module")
def run(phantom_cohort, tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("robustness")
    studies = phantom_cohort(root / "studies", patients=3, seed=5)
    store = RadiographDatastore(str(studies), max_image_pixels=400_000_000, auto_reload=False, read_only=True)
    split, count = Counter(store.get_image_info(i).get("split") for i in store.list_images()).most_common(1)[0]
    assert count >= 2, "the small cohort needs two films of one split"
    args = argparse.Namespace(
        studies=studies, out=root / "out", limit=2, split=split, shifts=",".join(SHIFTS), model_dir=None
    )
    summary = run_robustness_benchmark(args)
    return summary, json.loads((root / "out" / REPORT).read_text()), root / "out"


def test_every_shift_has_figures_in_range(run):
    summary, report, out = run
    assert report["films"] == 2 and list(report["per_shift"]) == list(SHIFTS) == list(summary["per_shift"])
    for name, figures in report["per_shift"].items():
        assert figures["films"] == 2, name
        for key in SHARES:
            value = figures[key]
            assert value is None or 0.0 <= value <= 1.0, (name, key, value)
        for key in COUNTS:
            assert isinstance(figures[key], int) and figures[key] >= 0, (name, key)
        assert figures["errors"] == 0
    # On the unchanged films the shipped models find the spine and name its bodies.
    assert report["per_shift"]["none"]["spine_found"] == 1.0
    assert report["per_shift"]["none"]["level_dice"] > 0.8
    with Image.open(out / FIGURE) as picture:
        assert picture.format == "PNG" and picture.width > 200


def test_the_mirror_moved_the_truth_with_the_film(run):
    _, report, _ = run
    for image_id, film in report["per_film"]["mirrored"].items():
        assert film["spine_found"], film["reason"]
        # Scored on the mirrored truth the answer fits; on the truth left where it was it would not.
        assert film["level_dice"] > 0.8, image_id
        assert film["level_dice_unshifted_truth"] < 0.3, image_id
    for image_id, film in report["per_film"]["none"].items():
        assert film["level_dice_unshifted_truth"] == pytest.approx(film["level_dice"]), image_id


def test_bad_arguments_name_the_problem(tmp_path):
    from lib.core.errors import BadParameterError

    def args(**kw):
        base = {"studies": tmp_path, "out": tmp_path / "out", "limit": 1, "split": None, "shifts": None}
        return argparse.Namespace(**{**base, "model_dir": None, **kw})

    with pytest.raises(BadParameterError, match="needs --studies"):
        run_robustness_benchmark(args(studies=None))
    with pytest.raises(BadParameterError, match="is not a folder"):
        run_robustness_benchmark(args(studies=tmp_path / "nowhere"))
    with pytest.raises(BadParameterError, match="unknown shift 'sideways'; known: none, mirrored"):
        run_robustness_benchmark(args(shifts="none,sideways"))
