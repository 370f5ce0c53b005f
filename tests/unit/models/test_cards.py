"""Publishing weights: only a better validated model replaces the served one, atomically, with its card."""

import json

import pytest

from lib.models.cards import model_version, publish_if_better, read_card


@pytest.fixture
def weights(tmp_path):
    candidate, served = tmp_path / "run" / "model.pt", tmp_path / "levels.pt"
    candidate.parent.mkdir()
    candidate.write_bytes(b"new weights")
    served.write_bytes(b"old weights")
    return candidate, served


def _scores(table):
    return lambda path: table[open(path, "rb").read()]


def test_better_candidate_is_published_with_its_card(weights, tmp_path):
    candidate, served = weights
    card = tmp_path / "levels.json"
    decision = publish_if_better(
        candidate,
        served,
        card,
        _scores({b"new weights": 0.9, b"old weights": 0.8}),
        {"name": "levels", "trained_at": "20261127T140000"},
    )
    assert decision.published and decision.served_score == pytest.approx(0.8)
    assert served.read_bytes() == b"new weights"
    written = read_card(card)
    assert written["validation_score"] == pytest.approx(0.9) and written["version"].startswith("levels-")
    assert model_version(card) == written["version"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_worse_or_equal_candidate_leaves_the_served_model_alone(weights, tmp_path):
    candidate, served = weights
    card = tmp_path / "levels.json"
    card.write_text(json.dumps({"version": "levels-old"}))
    for new_score in (0.7, 0.8):
        decision = publish_if_better(
            candidate, served, card, _scores({b"new weights": new_score, b"old weights": 0.8}), {}
        )
        assert not decision.published and "kept the served model" in decision.reason
    assert served.read_bytes() == b"old weights" and read_card(card)["version"] == "levels-old"


def test_first_model_is_published_and_a_missing_candidate_is_not(weights, tmp_path):
    candidate, served = weights
    served.unlink()
    assert publish_if_better(candidate, served, tmp_path / "c.json", _scores({b"new weights": 0.1}), {}).published
    missing = publish_if_better(tmp_path / "none.pt", served, tmp_path / "c.json", _scores({}), {})
    assert not missing.published and missing.candidate_score is None
