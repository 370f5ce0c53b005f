"""``python main.py benchmark active-learning`` on a tiny campaign: the app built from main.py on a film datastore of
the held-out centre, one round per strategy through the app's strategies, scoring, levels train task and infer
task; the JSON and the figure it writes; incremental scoring; bad options refused with the reason."""

from __future__ import annotations

import json

import pytest

from apps.cli.benchmarks.active_learning import build_app, in_process_app_settings
from apps.cli.main import main
from lib.core.errors import BadInputError
from trainers.levels import epochs_for_steps

# Seed 6: of the six pool patients three fall to validation at a share of 0.34 (the trainer's hash of the
# patient), so any four corrected films train on some and validate on others.
TINY = [
    "benchmark", "active-learning", "--pool-patients", "6", "--test-patients", "1", "--rounds", "1",
    "--per-round", "4", "--seeds", "6", "--starts", "shipped", "--strategies", "levels_uncertainty", "random",
    "--epochs", "1", "--val-split", "0.34", "--samples", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    out = tmp_path_factory.mktemp("al")
    assert main([*TINY, "--out", str(out)]) == 0
    return out, json.loads((out / "active_learning.json").read_text())


def test_the_campaign_writes_its_figure_and_json_with_one_round_per_strategy(campaign):
    out, result = campaign
    assert result["complete"] is True and result["centre"] == "external" and result["style"] == "film"
    assert result["round_request"]["augmentation"] == "film"  # rounds fine-tune as the shipped weights were trained
    assert (out / "active_learning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = {run["strategy"]: run for run in result["runs"]}
    assert set(runs) == {"levels_uncertainty", "random"}
    for run in runs.values():
        assert run["start"] == "shipped" and len(run["rounds"]) == 1
        (record,) = run["rounds"]
        assert len(record["picked"]) == 4 and record["corrected"] == 4
        assert record["training_error"] is None
        assert record["schedule"]["epochs_run"] == 1 and record["schedule"]["started_from"] == "served weights"
        assert "published" in record["publish"]  # the publish check ran and decided
        assert record["test"]["images"] == 1 and 0.0 <= record["test"]["mean_body_dice"] <= 1.0
        assert record["test"]["model_version"]  # scored with the weights served after the round
        assert [n for n, _ in run["curve"]] == [0, 4]
    # The uncertainty arm scored every pool film with the served model, highest served first.
    record = runs["levels_uncertainty"]["rounds"][0]
    assert record["scoring"]["scored"] == 6 and record["scoring"]["seconds_per_film"] > 0
    scores = [p["score"] for p in record["picked"]]
    assert scores == sorted(scores, reverse=True)
    assert "scoring" not in runs["random"]["rounds"][0]  # random needs no scores
    arms = result["summary"]
    assert set(arms) == {"levels_uncertainty / shipped", "random / shipped"}
    assert set(arms["random / shipped"]["films_needed"]) == {"0.90", "0.95"}


def test_scoring_is_incremental_per_model_version(campaign):
    out, _ = campaign
    arm = out / "campaign" / "seed6" / "shipped_levels_uncertainty"
    with in_process_app_settings():
        app = build_app(arm / "studies", arm / "model", samples=2)
        first = app.scoring({"method": "levels_uncertainty"})  # rescored only if the round published new weights
        again = app.scoring({"method": "levels_uncertainty"})
    assert first["scored"] + first["cached"] == 2  # the films still unlabelled
    assert again["scored"] == 0 and again["cached"] == 2
    assert again["model_version"] == first["model_version"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--pool-patients", "4", "--rounds", "1", "--per-round", "8"], "fewer than the 8 films to correct"),
        (["--strategies", "levels_uncertainty", "cleverest"], "['cleverest'] are not registered in the app"),
        (["--val-split", "1.5"], "--val-split must be between 0 and 1"),
    ],
)
def test_bad_options_are_refused_with_the_reason(tmp_path, capsys, options, message):
    assert main(["benchmark", "active-learning", "--out", str(tmp_path), *options]) == 2
    assert message in capsys.readouterr().err


def test_the_epochs_of_a_round_follow_the_labels():
    assert epochs_for_steps(30, 0, 100, 8) == 30  # no cap: the full training's epochs
    assert epochs_for_steps(30, 40, 16, 8) == 20  # 2 batches an epoch
    assert epochs_for_steps(30, 40, 200, 8) == 2  # 25 batches an epoch
    assert epochs_for_steps(5, 40, 8, 8) == 5  # never beyond max_epochs
    with pytest.raises(BadInputError, match="max_steps"):
        epochs_for_steps(30, -1, 8, 8)
