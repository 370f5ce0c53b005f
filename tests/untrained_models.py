"""Weights for servers under test: freshly initialised networks, enough to serve (they rarely find a spine)."""

from __future__ import annotations

from pathlib import Path

import torch

from lib.models.classifier import compression_network
from lib.models.networks import levels_network
from lib.models.refiner import refiner_network


def untrained_model_dir(folder: Path, seed: int = 0) -> Path:
    """``folder`` made with ``levels.pt``, ``compression.pt`` and ``landmarks.pt`` from seeded, untrained networks."""
    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    torch.save(levels_network().state_dict(), folder / "levels.pt")
    torch.save(compression_network().state_dict(), folder / "compression.pt")
    torch.save(refiner_network().state_dict(), folder / "landmarks.pt")
    return folder
