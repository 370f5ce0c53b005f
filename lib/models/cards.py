"""Model cards and the rule that publishes new weights only when they are better on data that chose nothing.

A card says what the weights are: labels, input size, intensity convention, threshold where one applies, how
they were trained (command, seed, data, epochs, time) and their validation figures. It is stored inside the
checkpoint (``lib.models.weights``), so the served threshold and version always belong to the served weights; the
JSON copy beside the checkpoint is for people and is rewritten after each publish.

Served weights change only through ``publish_if_better``: the candidate and the served model are scored on the
run's publish-check data (validation patients that chose neither the epoch nor the threshold), and the candidate
must win by a stated margin.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from lib.core.atomic import write_json_atomic
from lib.core.version import APP_VERSION
from lib.models.weights import read_checkpoint, write_checkpoint

logger = logging.getLogger(__name__)

INTENSITY_CONVENTION = "float32 in [0, 1], bone bright (lib.io.reader.read_radiograph), letterboxed to the input size"
# The operating threshold of weights whose card names none (a probability of one half).
DEFAULT_THRESHOLD = 0.5


def read_card(path) -> dict:
    """The JSON card at ``path``, or an empty dict when there is none."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        logger.warning("model card %s is not valid JSON; treated as absent", path)
        return {}


@dataclass
class PublishDecision:
    """What ``publish_if_better`` did and why."""

    published: bool
    candidate_score: float | None
    served_score: float | None
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def publish_if_better(
    candidate, served, card_path, score: Callable[[str], float], card_fields: dict, margin: float
) -> PublishDecision:
    """Replace the ``served`` checkpoint with ``candidate`` when ``score(candidate) > score(served) + margin``.

    ``score`` evaluates a weight file on data that chose neither the candidate's epoch nor its threshold; the
    served model is re-scored on the same data instead of trusting its card, whose figure may come from other
    images. The weights and their card are written as one checkpoint in one atomic rename, so no reader ever sees
    new weights with an old threshold; the JSON card beside it is a copy written afterwards.
    """
    candidate, served = Path(candidate), Path(served)
    if not candidate.is_file():
        return PublishDecision(False, None, None, f"no candidate weights at {candidate}")
    candidate_score = float(score(str(candidate)))
    served_score = float(score(str(served))) if served.is_file() else None
    if served_score is not None and not candidate_score > served_score + margin:
        reason = (
            f"kept the served model: publish-check score {served_score:.4f} + margin {margin:g} "
            f">= new {candidate_score:.4f}"
        )
        logger.info(reason)
        return PublishDecision(False, candidate_score, served_score, reason)
    card = {
        **card_fields,
        "validation_score": round(candidate_score, 6),
        "publish_margin": margin,
        "app_version": APP_VERSION,
    }
    card["version"] = f"{card.get('name', served.stem)}-{APP_VERSION}+{card_fields.get('trained_at', 'local')}"
    state, _ = read_checkpoint(candidate)
    write_checkpoint(state, card, served)
    write_json_atomic(card, card_path)
    was = "none" if served_score is None else f"{served_score:.4f}"
    reason = f"published: publish-check score {candidate_score:.4f} (served model: {was}, margin {margin:g})"
    logger.info(reason)
    return PublishDecision(True, candidate_score, served_score, reason)
