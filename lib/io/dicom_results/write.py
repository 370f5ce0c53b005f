"""One pipeline result as DICOM in its source's study: the findings SEG, the overlay Secondary Capture and the
measurement SR; to upload (``findings_datasets``) or to write into a folder (``write_dicom_results``)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as dicom_codes

from lib.core.atomic import replace_atomic
from lib.core.errors import BadInputError
from lib.io.dicom_results.sc import overlay_secondary_capture
from lib.io.dicom_results.seg import label_seg
from lib.io.dicom_results.sr import measurement_report
from lib.io.labels import distinct_label_values
from lib.io.series import FINDINGS_DESCRIPTION, OVERLAY_DESCRIPTION, REPORT_DESCRIPTION

SERIES_NUMBERS = {"seg": 310, "sc": 311, "sr": 312}


def finding_names(result: Mapping, values: set) -> dict[int, str]:
    """Segment names for a pipeline label map: levels by name, positive segments with their probability."""
    from lib.results.pipeline import PIPELINE_LABELS, POSITIVE_SEGMENT_LABELS

    names = {value: name for name, value in PIPELINE_LABELS.items() if value in values}
    for name, value in POSITIVE_SEGMENT_LABELS.items():
        segment = name.replace(" compression", "")
        probability = (result.get("segments", {}).get(segment) or {}).get("probability")
        if value in values and probability is not None:
            names[value] = f"{segment} compression p={probability:.2f}"
    return names


def pipeline_algorithm(result: Mapping) -> hd.AlgorithmIdentificationSequence:
    """The pipeline as the algorithm behind a findings SEG: its model versions and threshold."""
    versions = dict(result.get("model_versions") or {})
    parameters = {"threshold": str(result.get("threshold"))} if result.get("threshold") is not None else None
    return hd.AlgorithmIdentificationSequence(
        name="cervical-cord pipeline",
        family=dicom_codes.cid7162.ArtificialIntelligence,
        version=("; ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "unknown")[:64],
        parameters=parameters,
    )


def findings_datasets(
    source: Dataset,
    label_hw: np.ndarray,
    result: Mapping,
    pixels: np.ndarray,
    heatmap: Optional[np.ndarray],
    landmarks: Optional[Mapping] = None,
) -> dict[str, Dataset]:
    """``{"seg" (when anything was found), "sc", "sr"}``: the level map with positive segments named with their
    probability, the overlay picture, and the measurement report, all built before anything is stored.

    label_hw: uint8 pipeline label map; pixels: float [rows, cols] in [0, 1]; heatmap: float in [0, 1] or None;
    landmarks: the measured landmarks (the SR's image coordinates), or None.
    """
    from lib.results.overlay import render_overlay

    out = {}
    values = distinct_label_values(label_hw) - {0}
    if values:
        out["seg"] = label_seg(
            source,
            label_hw,
            finding_names(result, values),
            FINDINGS_DESCRIPTION,
            series_number=SERIES_NUMBERS["seg"],
            algorithm=pipeline_algorithm(result),
        )
    picture = render_overlay(pixels, label_hw, heatmap, title=str(result.get("result", "")), max_side_px=1200)
    out["sc"] = overlay_secondary_capture(
        source, np.asarray(picture.convert("RGB")), OVERLAY_DESCRIPTION, series_number=SERIES_NUMBERS["sc"]
    )
    out["sr"] = measurement_report(source, result, landmarks, REPORT_DESCRIPTION, series_number=SERIES_NUMBERS["sr"])
    return out


def write_dicom_results(source_path, data: Mapping, out_dir) -> dict[str, Path]:
    """Write the SEG (when the pipeline found anything), the overlay SC and the SR of one pipeline run on the
    DICOM radiograph ``source_path`` into ``out_dir``, each file atomically; returns ``{"seg", "sc", "sr"}`` ->
    path (no ``"seg"`` for an empty map).

    data: ``PipelineInfer.run``'s output (``"pred"``, ``"pixels"``, ``"heatmap"``, ``"landmarks"``, ``"result"``).
    Files are named after the source: ``<stem>_seg.dcm``, ``<stem>_overlay.dcm``, ``<stem>_sr.dcm``.
    """
    source_path = Path(source_path)
    try:
        source = pydicom.dcmread(str(source_path), stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError) as exc:
        raise BadInputError(f"{source_path.name}: results in DICOM need a DICOM source ({exc})") from None
    datasets = findings_datasets(
        source,
        np.asarray(data["pred"], dtype=np.uint8),
        data["result"],
        data["pixels"],
        data.get("heatmap"),
        data.get("landmarks"),
    )
    out_dir = Path(out_dir)
    names = {"seg": "seg", "sc": "overlay", "sr": "sr"}
    paths = {}
    for kind, ds in datasets.items():
        path = out_dir / f"{source_path.stem}_{names[kind]}.dcm"
        replace_atomic(path, lambda f, ds=ds: ds.save_as(f, write_like_original=False))
        paths[kind] = path
    return paths
