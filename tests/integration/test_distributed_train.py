"""Data-parallel training on two CPU processes (gloo), each started as torchrun starts it: the levels trainer
(MONAI Label's Ignite loop) and the compression trainer (a plain loop) end with the same weights on both ranks,
and rank 0 alone publishes them (rank 1 waits at the barrier and says so)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.multiprocessing

from apps.ops.server_process import free_port
from lib.models.weights import read_checkpoint
from tests.ddp_ranks import train_rank


@pytest.fixture(scope="module")
def ranks(phantom_cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    studies = phantom_cohort(root / "studies", patients=6, seed=2, preset="demo")  # the retrain test's cohort
    ports = {"levels": free_port(), "compression": free_port()}
    out = root / "out"
    out.mkdir()
    torch.multiprocessing.spawn(
        train_rank, args=(2, ports, str(studies), str(root / "model"), str(out)), nprocs=2, join=True
    )
    return root / "model", out


@pytest.mark.parametrize("model", ["levels", "compression"])
def test_both_ranks_end_with_the_same_weights(ranks, model):
    _, out = ranks
    first, second = (torch.load(out / f"{model}_rank{r}.pt", map_location="cpu") for r in (0, 1))
    assert first.keys() == second.keys() and first
    differ = [k for k in first if not torch.equal(first[k], second[k])]
    assert not differ, differ
    assert any(first[k].abs().sum() > 0 for k in first)


def test_rank_zero_alone_publishes_the_levels_model(ranks):
    model_dir, out = ranks
    decisions = [json.loads((out / f"levels_rank{r}.json").read_text()) for r in (0, 1)]
    assert decisions[0]["published"] is True, decisions[0]
    assert decisions[1] == {"published": False, "reason": "rank 1 of 2: rank 0 publishes"}
    weights, card = read_checkpoint(model_dir / "levels.pt")
    final = torch.load(out / "levels_rank0.pt", map_location="cpu")
    assert all(torch.equal(weights[k], final[k]) for k in final)  # one epoch: the best epoch is the last one
    assert card["training"]["train_images"] > 0
    # The compression candidate of the best epoch is rank 0's; rank 1 only reports.
    assert json.loads((out / "compression_rank1.json").read_text())["reason"] == "rank 1 of 2: rank 0 publishes"
    candidate = torch.load(model_dir / "train" / "compression" / "candidate.pt", map_location="cpu")["model"]
    final = torch.load(out / "compression_rank0.pt", map_location="cpu")
    assert all(torch.equal(candidate[k], final[k]) for k in final)
