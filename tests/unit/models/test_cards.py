"""Publishing weights: only a model better by the margin on publish-check data replaces the served one, atomically,
with its card inside the checkpoint."""

import json

import pytest
import torch

from lib.models.cards import publish_if_better, read_card
from lib.models.weights import read_checkpoint


def _state(value: float) -> dict:
    return {"weight": torch.full((2,), value)}


@pytest.fixture
def weights(tmp_path):
    candidate, served = tmp_path / "run" / "model.pt", tmp_path / "levels.pt"
    candidate.parent.mkdir()
    torch.save({"model": _state(1.0)}, candidate)  # what a training run leaves behind
    torch.save({"model": _state(0.0), "card": {"version": "levels-old", "threshold": 0.4}}, served)
    return candidate, served


def _scores(table):
    """A score per weight file, keyed by the value its weights hold."""
    return lambda path: table[float(read_checkpoint(path)[0]["weight"][0])]


def test_better_candidate_is_published_with_its_card_inside_the_checkpoint(weights, tmp_path):
    candidate, served = weights
    card = tmp_path / "levels.json"
    fields = {"name": "levels", "trained_at": "20261127T140000", "threshold": 0.7}
    decision = publish_if_better(candidate, served, card, _scores({1.0: 0.9, 0.0: 0.8}), fields, margin=0.05)
    assert decision.published and decision.served_score == pytest.approx(0.8)
    state, embedded = read_checkpoint(served)
    assert float(state["weight"][0]) == 1.0 and embedded["threshold"] == 0.7
    assert embedded["version"].startswith("levels-") and embedded["publish_margin"] == 0.05
    assert read_card(card) == embedded  # the JSON beside it is a copy of the embedded card
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_candidate_within_the_margin_leaves_the_served_model_alone(weights, tmp_path):
    candidate, served = weights
    card = tmp_path / "levels.json"
    card.write_text(json.dumps({"version": "levels-old"}))
    served_bytes = served.read_bytes()
    for new_score in (0.7, 0.8, 0.84):
        decision = publish_if_better(candidate, served, card, _scores({1.0: new_score, 0.0: 0.8}), {}, margin=0.05)
        assert not decision.published and "kept the served model" in decision.reason
    assert served.read_bytes() == served_bytes and read_card(card)["version"] == "levels-old"


def test_first_model_is_published_and_a_missing_candidate_is_not(weights, tmp_path):
    candidate, served = weights
    served.unlink()
    assert publish_if_better(candidate, served, tmp_path / "c.json", _scores({1.0: 0.1}), {}, margin=0.01).published
    missing = publish_if_better(tmp_path / "none.pt", served, tmp_path / "c.json", _scores({}), {}, margin=0.01)
    assert not missing.published and missing.candidate_score is None
