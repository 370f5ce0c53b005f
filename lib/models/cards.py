"""Model cards (the JSON beside each weight file) and the rule that publishes new weights only when better.

A card says what the weights are: labels, input size, intensity convention, threshold where one applies, how
they were trained (command, seed, data, epochs, time) and their validation figures. Served weights change only
through ``publish_if_better``: both models are scored on the same validation data, and the new one must win.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from lib.core.atomic import copy_atomic, write_json_atomic
from lib.core.version import APP_VERSION

logger = logging.getLogger(__name__)

INTENSITY_CONVENTION = "float32 in [0, 1], bone bright (lib.io.reader.read_radiograph), letterboxed to the input size"


def read_card(path) -> dict:
    """The card at ``path``, or an empty dict when there is none (a model with no card has no recorded score)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        logger.warning("model card %s is not valid JSON; treated as absent", path)
        return {}


def model_version(card_path, fallback: str = "untrained") -> str:
    """``name-version`` from a card, e.g. ``levels-0.1.0+20261127T1405``; ``fallback`` without a card."""
    card = read_card(card_path)
    return str(card.get("version", fallback))


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
    candidate, served, card_path, score: Callable[[str], float], card_fields: dict, min_gain: float = 0.0
) -> PublishDecision:
    """Replace ``served`` weights with ``candidate`` when ``score(candidate) > score(served) + min_gain``.

    ``score`` evaluates a weight file on the validation data of the run; the served model is re-scored on the
    same data instead of trusting its card, whose figure may come from other images. The copy is atomic and the
    card is rewritten after it, so a crash leaves either the old pair or the new weights with the old card.
    """
    candidate, served = Path(candidate), Path(served)
    if not candidate.is_file():
        return PublishDecision(False, None, None, f"no candidate weights at {candidate}")
    candidate_score = float(score(str(candidate)))
    served_score = float(score(str(served))) if served.is_file() else None
    if served_score is not None and not candidate_score > served_score + min_gain:
        reason = f"kept the served model: validation score {served_score:.4f} >= new {candidate_score:.4f}"
        logger.info(reason)
        return PublishDecision(False, candidate_score, served_score, reason)
    copy_atomic(candidate, served)
    card = {**card_fields, "validation_score": round(candidate_score, 6), "app_version": APP_VERSION}
    card["version"] = f"{card.get('name', served.stem)}-{APP_VERSION}+{card_fields.get('trained_at', 'local')}"
    write_json_atomic(card, card_path)
    was = "none" if served_score is None else f"{served_score:.4f}"
    reason = f"published: validation score {candidate_score:.4f} (served model: {was})"
    logger.info(reason)
    return PublishDecision(True, candidate_score, served_score, reason)
