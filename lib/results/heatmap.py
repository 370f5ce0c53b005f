"""The Grad-CAM heatmap inside a result JSON: an 8-bit grey PNG, base64, on the radiograph's pixel grid.

MONAI Label's infer answer carries one file (the label map), so the heatmap rides in the JSON where every client,
the DICOMweb write-back included, can read it.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from lib.core.errors import BadInputError

ENCODING = "png;base64"


def heatmap_to_json(heatmap: np.ndarray) -> dict:
    """float ``[rows, cols]`` in [0, 1] -> ``{"encoding", "data", "shape", "scale", "grid"}``."""
    buffer = io.BytesIO()
    grey = np.round(255.0 * np.clip(heatmap, 0.0, 1.0)).astype(np.uint8)
    Image.fromarray(grey).save(buffer, format="PNG", optimize=True)
    return {
        "encoding": ENCODING,
        "data": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "shape": list(heatmap.shape),
        "scale": "0-255 = Grad-CAM 0-1",
        "grid": "radiograph pixels (rows, cols)",
    }


def heatmap_from_json(entry: dict | None) -> np.ndarray | None:
    """float32 ``[rows, cols]`` in [0, 1] from ``heatmap_to_json`` output; None when there is no heatmap."""
    if not entry:
        return None
    if entry.get("encoding") != ENCODING:
        raise BadInputError(f"heatmap encoding {entry.get('encoding')!r} is not {ENCODING!r}")
    with Image.open(io.BytesIO(base64.b64decode(entry["data"]))) as picture:
        grey = np.asarray(picture, dtype=np.float32)
    if list(grey.shape) != list(entry.get("shape", grey.shape)):
        raise BadInputError(f"heatmap is {list(grey.shape)} but the JSON says {entry.get('shape')}")
    return grey / 255.0
