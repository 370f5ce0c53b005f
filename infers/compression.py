"""Compression infer task: the level map found by the levels task, and a compression probability per segment.

SEGMENTATION-typed so that Slicer and OHIF list it; its label file is the level map (``W x H x 1`` NRRD on the
radiograph's viewer geometry, the same file the levels task writes), and the per-segment probabilities, decisions at
the threshold of the weights that answered and Grad-CAM peaks travel in the result JSON. The radiograph is read
once; the levels task runs on those pixels in memory (``LevelsInfer.levels_on_pixels``), and the crops are cut
by ``lib.models.crops.segment_crops``, as in the pipeline and the trainer.
"""

from __future__ import annotations

import logging

import numpy as np
from monailabel.interfaces.tasks.infer_v2 import InferType

from infers.base import ANSWER_DIR_KEY, WeightedInferTask, answer_file
from infers.levels import label_grid
from lib.anatomy.geometry import NotEvaluable, locate_segments
from lib.anatomy.names import LEVEL_LABELS, SEGMENTS
from lib.io.labels import write_label_map
from lib.io.reader import read_radiograph
from lib.models.cards import DEFAULT_THRESHOLD
from lib.models.classifier import classify_crops
from lib.models.crops import segment_crops
from lib.models.gradcam import gradcam_crops, heatmap_peak
from lib.models.weights import NetworkPool, ServedNetwork
from lib.results.pipeline import radiograph_block

logger = logging.getLogger(__name__)


class RunLevelsd:
    """Read the radiograph once and find its levels with the levels task on those pixels.

    Adds ``pixels`` (float32 [rows, cols]), ``pred`` (uint8 level map), ``levels_report``, ``radiograph``,
    ``spacing_mm``."""

    def __init__(self, levels_task, max_pixels: int):
        self.levels_task, self.max_pixels = levels_task, max_pixels

    def __call__(self, data: dict) -> dict:
        out = dict(data)
        image = read_radiograph(out["image"], max_pixels=self.max_pixels)
        levels = self.levels_task.levels_on_pixels(image, device=str(out.get("device") or "cpu"))
        out.update(
            pixels=levels["pixels"],  # turned over when the levels were read with bone dark (lib.models.polarity)
            pred=np.asarray(levels["pred"], dtype=np.uint8),
            spacing_mm=image.spacing_mm,
            levels_report=levels["levels_report"],
            radiograph=dict(
                levels["radiograph"],
                warnings=list(dict.fromkeys(levels["radiograph"]["warnings"] + levels["polarity"].warnings)),
            ),
        )
        return out


class SegmentCropsd:
    """``crops``: ``{segment: (float32 [96, 224], SegmentCrop) | NotEvaluable}`` from the cleaned level map."""

    def __call__(self, data: dict) -> dict:
        out = dict(data)
        report = out["levels_report"]
        if report.is_cervical_spine:
            located = locate_segments(out["pred"], out["spacing_mm"], report=report)
            out["crops"] = segment_crops(out["pixels"], located)
        else:
            out["crops"] = {seg: NotEvaluable(seg, "no lateral cervical spine found") for seg in SEGMENTS}
        return out


class CompressionInfer(WeightedInferTask):
    """Cord compression probability for each evaluable disc segment C2/3 .. C6/7."""

    model_name = "compression"

    def __init__(self, pool: NetworkPool, levels_task, max_pixels: int, config: dict | None = None, skip_writer=False):
        super().__init__(
            pool,
            type=InferType.SEGMENTATION,
            labels=dict(LEVEL_LABELS),
            dimension=2,
            description="Cord compression per disc segment (C2/3-C6/7) with Grad-CAM, on a lateral cervical radiograph",
            config=config,
            skip_writer=skip_writer,
        )
        self.levels_task, self.max_pixels = levels_task, max_pixels

    def pre_transforms(self, data=None):
        return [RunLevelsd(self.levels_task, self.max_pixels), SegmentCropsd()]

    def inverse_transforms(self, data=None):
        return None

    def post_transforms(self, data=None):
        return []

    def infer_with(self, served: ServedNetwork, data: dict, device: str) -> dict:
        """Probabilities and Grad-CAM maps of the evaluable segments (``probabilities``, ``heatmaps``)."""
        images = {seg: entry[0] for seg, entry in data["crops"].items() if not isinstance(entry, NotEvaluable)}
        data["probabilities"] = classify_crops(served.network, images, device)
        data["heatmaps"] = gradcam_crops(served.network, images, device)  # switches gradients on itself
        return data

    def finish_result(self, path, result):
        if "present_labels" in result:
            # MONAI Label overwrites label_names with every label; Slicer names segments by position among the
            # values present, so list only those (as the levels task does).
            result["label_names"] = result.pop("present_labels")
        return path, result

    def writer(self, data, extension=None, dtype=None):
        path = answer_file("compression-", data.get(ANSWER_DIR_KEY))
        write_label_map(path, data["pred"], label_grid(data))
        return path, self.result_json(data)

    def result_json(self, data: dict) -> dict:
        card = data["model_card"]
        threshold = float(card.get("threshold", DEFAULT_THRESHOLD))
        report = data["levels_report"]
        segments = {}
        for segment, entry in data["crops"].items():
            if isinstance(entry, NotEvaluable):
                segments[segment] = {"probability": None, "decision": None, "evaluable": False, "reason": entry.reason}
                continue
            p = data["probabilities"][segment]
            segments[segment] = {
                "probability": round(p, 6),
                "evaluable": True,
                "decision": "compressed" if p >= threshold else "not compressed",
                "gradcam_peak_px": [round(v, 1) for v in heatmap_peak(data["heatmaps"][segment], entry[1])],
            }
        warnings = list(report.warnings)
        warnings += [w for w in data["radiograph"].get("warnings", []) if w not in warnings]
        if not report.is_cervical_spine:
            warnings.append(f"no lateral cervical spine found ({report.reason}): no segment evaluated")
        present = set(report.found if report.is_cervical_spine else [])
        present |= {"spinal_canal"} if (data["pred"] == LEVEL_LABELS["spinal_canal"]).any() else set()
        return {
            "model": "compression",
            "model_version": str(card.get("version", "untrained")),
            "threshold": threshold,
            "threshold_method": card.get("threshold_method"),
            "segments": segments,
            "radiograph": radiograph_block(data["radiograph"]),
            "warnings": warnings,
            "present_labels": {k: v for k, v in LEVEL_LABELS.items() if k in present},
        }
