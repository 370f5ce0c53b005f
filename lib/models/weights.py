"""Served weights: one checkpoint file holds the network's weights and the card that belongs to them.

A checkpoint is ``{"model": state_dict, "card": {...}}``: the threshold, version and figures travel inside the
same file as the weights, so publishing is one atomic rename and the threshold that is served always belongs to
the weights that are served. Older checkpoints (a bare state dict, or MONAI Label's ``{"model": ...}``) are
still read; their card is the JSON file beside them, read at the same moment as the weights.

``NetworkPool`` serves one such file to concurrent requests: the file is read once per version, and each request
borrows a network of its own (copies are made on demand and reused), because requests mutate the network they
hold (Grad-CAM hooks, eval/train switches, MC-dropout sampling).
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from lib.core.atomic import replace_atomic

logger = logging.getLogger(__name__)


def read_checkpoint(path, device="cpu") -> tuple[dict, dict]:
    """``(state_dict, card)`` of a weight file; the card of an older checkpoint is the JSON file beside it."""
    checkpoint = torch.load(path, map_location=device)
    if isinstance(checkpoint, dict) and "model" in checkpoint:
        card = checkpoint.get("card")
        state = checkpoint["model"]
    else:
        card, state = None, checkpoint
    if not isinstance(card, dict):
        card = _sidecar_card(Path(path))
    return state, card


def _sidecar_card(path: Path) -> dict:
    sidecar = path.with_suffix(".json")
    try:
        return json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def load_weights(network: torch.nn.Module, path, device="cpu") -> torch.nn.Module:
    """``network`` with the weights of ``path`` (any checkpoint form ``read_checkpoint`` reads)."""
    state, _ = read_checkpoint(path, device)
    network.load_state_dict(state)
    return network


def write_checkpoint(state_dict: dict, card: dict, path) -> None:
    """Weights and their card as one checkpoint, written atomically (a temporary file, then a rename)."""
    replace_atomic(Path(path), lambda f: torch.save({"model": state_dict, "card": card}, f))


@dataclass(frozen=True)
class ServedNetwork:
    """A network lent to one request, with the card of the weights it carries (threshold, version, ...)."""

    network: torch.nn.Module
    card: dict

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unversioned"))


def _file_version(path: Path):
    """What changes when a file is replaced (an atomic rename gives a new inode) or rewritten."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class NetworkPool:
    """The networks of one weight file, safe to borrow from many threads at once.

    ``factory`` builds the (untrained) network the weights load into. The file is re-read when it changes (a
    published retraining), and copies still lent out then are dropped when they come back.
    """

    def __init__(self, path, factory: Callable[[], torch.nn.Module]):
        self.path = Path(path)
        self._factory = factory
        self._lock = threading.Lock()
        self._loaded: tuple | None = None  # (file version, state dict on the CPU, card)
        self._idle: dict[str, list] = {}  # device -> networks of the loaded version not lent out

    def available(self) -> bool:
        return self.path.is_file()

    def card(self) -> dict:
        """The card of the weights served now; empty without weights."""
        with self._lock:
            loaded = self._current()
            return dict(loaded[2]) if loaded else {}

    def _current(self) -> tuple | None:
        version = _file_version(self.path)
        if version is None:
            self._loaded, self._idle = None, {}
            return None
        if self._loaded is None or self._loaded[0] != version:
            state, card = read_checkpoint(self.path, "cpu")
            if self._loaded is not None:
                logger.info("%s changed: serving the new weights (%s)", self.path.name, card.get("version"))
            self._loaded, self._idle = (version, state, card), {}
        return self._loaded

    @contextmanager
    def borrow(self, device: str = "cpu") -> Iterator[ServedNetwork | None]:
        """A network in eval mode for this caller alone (None without weights), returned to the pool after."""
        with self._lock:
            loaded = self._current()
            if loaded is None:
                network = None
            else:
                idle = self._idle.setdefault(device, [])
                network = idle.pop() if idle else None
        if loaded is None:
            yield None
            return
        if network is None:
            network = self._build(loaded[1], device)
        try:
            network.eval()
            yield ServedNetwork(network, loaded[2])
        finally:
            network.eval()
            with self._lock:
                if self._loaded is not None and self._loaded[0] == loaded[0]:
                    self._idle.setdefault(device, []).append(network)

    def _build(self, state: dict, device: str) -> torch.nn.Module:
        network = self._factory()
        network.load_state_dict(state)  # copies the values into the network's own tensors
        return network.to(torch.device(device)).eval()
