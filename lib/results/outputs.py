"""The pipeline's files: the marked label map and, when compression was assessed, the Grad-CAM heatmap.

Both are ``W x H x 1`` volumes on the radiograph's viewer geometry (``lib.io.labels.write_label_map``: the grid ITK
reads the image file on); the heatmap is uint8 0-255 for Grad-CAM 0-1.
Used by the server's writer and by ``python main.py predict`` alike.
"""

from __future__ import annotations

import numpy as np

from lib.io.labels import write_label_map
from lib.results.pipeline import label_names_present


def write_pipeline_outputs(data: dict, label_path, heatmap_path=None) -> dict:
    """Write the marked label map (and the heatmap when there is one and a path is given); completes and returns
    the result JSON. data: the pipeline's ``run`` output (``pred``, ``heatmap``, ``viewer_geometry``, ``spacing_mm``,
    ``result``); without a viewer geometry the maps are written at the measurement spacing."""
    grid = data.get("viewer_geometry") or data.get("spacing_mm")
    write_label_map(label_path, data["pred"], grid)
    result = data["result"]
    result["heatmap"] = None
    if heatmap_path and data["heatmap"] is not None:
        heat_u8 = np.round(255.0 * np.clip(data["heatmap"], 0.0, 1.0)).astype(np.uint8)
        write_label_map(heatmap_path, heat_u8, grid)
        result["heatmap"] = {"path": str(heatmap_path), "dtype": "uint8", "scale": "0-255 = Grad-CAM 0-1"}
    # Slicer names imported segments by position in label_names: list only the values present in the file.
    result["label_names"] = label_names_present(data["pred"])
    result["latencies_ms"] = dict(data.get("timings_ms", {}))
    return result
