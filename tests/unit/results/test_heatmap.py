"""The heatmap inside the result JSON survives the round trip at 8-bit precision."""

import numpy as np
import pytest

from lib.core.errors import BadInputError
from lib.results.heatmap import heatmap_from_json, heatmap_to_json


def test_round_trip_keeps_the_map_within_one_grey_level():
    heat = np.linspace(0, 1, 40 * 30, dtype=np.float32).reshape(40, 30)
    entry = heatmap_to_json(heat)
    assert entry["shape"] == [40, 30]
    back = heatmap_from_json(entry)
    assert back.shape == heat.shape and np.abs(back - heat).max() <= 0.5 / 255 + 1e-6
    assert heatmap_from_json(None) is None


def test_unknown_encoding_is_refused():
    with pytest.raises(BadInputError, match="encoding 'raw'"):
        heatmap_from_json({"encoding": "raw", "data": ""})
