"""Helpers the command modules share: ``--conf KEY VALUE`` pairs and torch's CPU threads."""

from __future__ import annotations


def conf_dict(pairs: list[list[str]] | None) -> dict[str, str]:
    """``--conf KEY VALUE`` given any number of times, as a dict (a later key wins)."""
    return {key: value for key, value in (pairs or [])}


def torch_threads(threads: int | None) -> None:
    """``--threads N``: torch's CPU threads for this process; unset keeps torch's default."""
    if threads:
        import torch

        torch.set_num_threads(threads)
