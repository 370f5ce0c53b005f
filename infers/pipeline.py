"""The pipeline infer task: levels -> landmarks and measurements -> per-segment compression with Grad-CAM, in one call.

SEGMENTATION-typed because Slicer and OHIF list only segmentation models. The radiograph is read once; the
levels task runs on those pixels (``LevelsInfer.levels_on_pixels``); the landmark refiner and the classifier are
borrowed from their models' pools, so the threshold and version reported are those of the weights that answered;
nothing calls the classifier when no lateral cervical spine is found. Output: the level label map with each
positive segment painted as its own label value (``lib.results.pipeline``), and the JSON with the Grad-CAM
heatmap inside it.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

import numpy as np
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from infers.base import ANSWER_DIR_KEY, answer_file
from lib.anatomy.geometry import NotEvaluable, locate_segments, paste_heatmap
from lib.anatomy.landmarks import estimate_landmarks
from lib.anatomy.levels import not_in_view, segment_status
from lib.anatomy.measurements import all_measurements
from lib.core.errors import AppError, BadInputError, ModelNotReadyError
from lib.core.http import http_error
from lib.io.radiograph import Radiograph
from lib.io.reader import read_radiograph
from lib.models.cards import DEFAULT_THRESHOLD
from lib.models.classifier import classify_crops
from lib.models.crops import segment_crops
from lib.models.gradcam import gradcam_crops, heatmap_peak
from lib.models.refiner import refine_landmarks
from lib.models.weights import NetworkPool
from lib.results.heatmap import heatmap_to_json
from lib.results.outputs import write_pipeline_outputs
from lib.results.pipeline import (
    PIPELINE_LABELS,
    CompressionCalls,
    Measured,
    assemble_result,
    detector_spacing_mm,
    landmarks_json,
    mark_positive_segments,
)

logger = logging.getLogger(__name__)
UNTRAINED = "untrained"


class PipelineInfer(BasicInferTask):
    """Levels, measurements and per-segment cord compression with Grad-CAM for one lateral cervical radiograph.

    levels: the ``LevelsInfer`` task; compression, landmarks: the classifier's and the refiner's ``NetworkPool``,
    or None when that model is not served.
    """

    def __init__(
        self,
        levels,
        compression: Optional[NetworkPool],
        landmarks: Optional[NetworkPool],
        max_pixels: int,
        device: str = "cpu",
    ):
        super().__init__(
            path=None,
            network=None,
            type=InferType.SEGMENTATION,
            labels=dict(PIPELINE_LABELS),
            dimension=2,
            description="Cervical cord compression per disc segment (C2/3-C6/7) with Grad-CAM, levels and "
            "radiographic measurements, on a lateral cervical radiograph",
            config={"device": device},
        )
        self.levels, self.compression, self.landmarks = levels, compression, landmarks
        self.max_pixels = max_pixels

    def pre_transforms(self, data=None):
        return []  # run() reads the radiograph once and hands the pixels to every model

    def post_transforms(self, data=None):
        return []

    def is_valid(self) -> bool:
        return self.levels.is_valid()  # listed by /info/ once the levels model has weights

    def __call__(self, request, callbacks=None):
        if not self.levels.is_valid():
            raise http_error(
                ModelNotReadyError(
                    "pipeline needs the levels model, which has no weights yet; train it with POST /train/levels "
                    "or 'python main.py train levels'"
                )
            )
        try:
            data = self.run(request)
            if request.get("skip_writer") or self.skip_writer:
                return None, data
            return self.writer(dict(data, **{ANSWER_DIR_KEY: request.get(ANSWER_DIR_KEY)}))
        except AppError as exc:
            raise http_error(exc) from None

    def run(self, request: dict) -> dict:
        """Everything but the files: ``{"pixels", "pred" (uint8 marked label map), "heatmap" (float32 [rows, cols]
        in [0, 1] or None), "landmarks" (measured), "mask_landmarks" (before refinement), "result" (the JSON without
        file paths), "timings_ms"}``."""
        device = str(request.get("device") or self.config().get("device", "cpu"))
        started = time.perf_counter()
        if not request.get("image"):
            # MONAI Label passes an empty path when the image id is not in the datastore.
            raise BadInputError("no image to read: the image id is not in the datastore (upload it first)")
        image = read_radiograph(request["image"], max_pixels=self.max_pixels)
        return self.run_radiograph(image, device, started)

    def run_radiograph(self, image: Radiograph, device: str = "cpu", started: Optional[float] = None) -> dict:
        """``run`` on a radiograph already read (the robustness benchmark hands it films it changed in memory)."""
        started = time.perf_counter() if started is None else started
        levels = self.levels.levels_on_pixels(image, device)
        report, label = levels["levels_report"], np.asarray(levels["pred"], dtype=np.uint8)
        radiograph = image.describe()
        radiograph["warnings"] = list(
            dict.fromkeys(radiograph["warnings"] + report.warnings + levels["polarity"].warnings)
        )
        # The refiner and the classifier see the film the way the levels were read (bone bright), and so does the
        # overlay: an inverted film is turned over once, here, for every model after the levels.
        pixels = levels["pixels"]
        summary = {
            "cervical_spine_found": report.is_cervical_spine,
            "reason": report.reason,
            "found": report.found,
            "missing": report.missing,
            "not_in_view": not_in_view(report),
            "c2_in_view": report.c2_in_view,
            **levels["second_look"],
            **levels["polarity"].describe(),
        }
        out = {
            "pixels": pixels,
            "pred": label,
            "heatmap": None,
            "landmarks": {},
            "spacing_mm": image.spacing_mm,
            "viewer_geometry": image.label_geometry(),
            "timings_ms": {"levels": _ms(started)},
        }
        versions = {"levels": str(levels["model_card"].get("version", UNTRAINED))}
        if not report.is_cervical_spine:
            versions.update(self._versions_not_run())
            out["result"] = assemble_result(summary, {}, radiograph, versions)
            return out
        out["mask_landmarks"] = estimate_landmarks(label, image.spacing_mm, report)
        landmarks, landmark_source = self._refine(pixels, out["mask_landmarks"], device, versions)
        film_spacing, note = detector_spacing_mm(image.spacing_mm, image.spacing_source, image.magnification)
        measurements = all_measurements(landmarks, film_spacing)
        out["timings_ms"]["measurements"] = _ms(started)
        # The classifier's crops stay on the mask's landmarks, as when its threshold was validated: its training
        # shifts crops by up to 5 mm, so the refiner's sub-millimetre moves do not change its answer (validation
        # AUC 0.978 on mask landmarks, 0.979 on refined ones).
        located = locate_segments(label, image.spacing_mm, out["mask_landmarks"], report)
        status = segment_status(report.found, report.missing_reason)
        # A segment whose bodies were found but could not be cropped (outline not fitted, landmarks crossing)
        # says so, instead of "both bodies found" beside an empty probability.
        status.update(
            {s: {"evaluable": False, "reason": e.reason} for s, e in located.items() if isinstance(e, NotEvaluable)}
        )
        calls = self._compression(out, pixels, located, device, versions)
        out["timings_ms"]["compression"] = _ms(started)
        positives = [s for s, p in calls.probabilities.items() if calls.threshold is not None and p >= calls.threshold]
        out["pred"] = mark_positive_segments(label, landmarks, positives)
        out["landmarks"] = landmarks
        out["result"] = assemble_result(
            summary,
            status,
            radiograph,
            versions,
            Measured(measurements, note, landmark_source),
            calls,
        )
        out["result"]["landmarks"] = landmarks_json(landmarks)
        out["timings_ms"]["total"] = _ms(started)
        return out

    def _versions_not_run(self) -> dict:
        """Versions of the served refiner and classifier when neither ran (no spine found)."""
        pools = {"landmarks": self.landmarks, "compression": self.compression}
        return {name: str(pool.card().get("version", UNTRAINED)) for name, pool in pools.items() if pool}

    def _refine(self, pixels: np.ndarray, mask_landmarks: dict, device: str, versions: dict) -> tuple[dict, str]:
        """(landmarks to measure on, where they come from): refined on the film when the refiner has weights, else
        the mask's own."""
        if self.landmarks is None:
            return mask_landmarks, "level mask (the landmark refiner is not served)"
        with self.landmarks.borrow(device) as served:
            if served is None:
                versions["landmarks"] = UNTRAINED
                return mask_landmarks, "level mask (the landmark refiner has no weights)"
            versions["landmarks"] = served.version
            return refine_landmarks(served.network, pixels, mask_landmarks, device), "level mask refined on the film"

    def _compression(self, out: dict, pixels: np.ndarray, located: dict, device: str, versions: dict):
        """The classifier's ``CompressionCalls`` on the crops of ``located`` (``locate_segments`` output, cut by the
        one crop function the compression task and trainer use); fills ``out["heatmap"]``."""
        if self.compression is None:
            return CompressionCalls(reason="compression model not available")
        with self.compression.borrow(device) as served:
            if served is None:
                versions["compression"] = UNTRAINED
                return CompressionCalls(reason="compression model has no weights")
            versions["compression"] = served.version
            crops = {s: entry for s, entry in segment_crops(pixels, located).items() if isinstance(entry, tuple)}
            arrays = {s: entry[0] for s, entry in crops.items()}
            probabilities = classify_crops(served.network, arrays, device=device)
            heat = gradcam_crops(served.network, arrays, device=device)  # switches gradients on itself
            threshold = float(served.card.get("threshold", DEFAULT_THRESHOLD))
        geometry = {s: entry[1] for s, entry in crops.items()}
        peaks = {s: heatmap_peak(heat[s], geometry[s]) for s in heat}
        out["heatmap"] = paste_heatmap(heat, geometry, pixels.shape)
        return CompressionCalls(probabilities, peaks, threshold)

    def writer(self, data, extension=None, dtype=None):
        """Label map as ``W x H x 1`` NRRD on the radiograph's viewer geometry; the heatmap travels inside the JSON.

        MONAI Label's infer answer carries one file, so a second heatmap file would stay on the server where no
        client can fetch it; the JSON holds it as an 8-bit PNG (base64) on the radiograph's pixel grid instead.
        """
        label_path = answer_file("pipeline-", data.get(ANSWER_DIR_KEY))
        result = write_pipeline_outputs(data, label_path)
        if data["heatmap"] is not None:
            result["heatmap"] = heatmap_to_json(data["heatmap"])
        return label_path, result


def _ms(started: float) -> float:
    return round(1000.0 * (time.perf_counter() - started), 1)
