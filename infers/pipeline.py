"""The pipeline infer task: levels -> landmarks and measurements -> per-segment compression with Grad-CAM, in one call.

SEGMENTATION-typed because Slicer and OHIF list only segmentation models. The radiograph is read once; the
levels task runs in memory on those pixels (its network cache and weight reloading are reused); nothing calls
the compression network when no lateral cervical spine is found. Output: the level label map with each positive
segment painted as its own label value (``lib.results.pipeline``), a Grad-CAM heatmap file (uint8 0-255, same
``W x H x 1`` geometry) whose path is in the JSON, and the JSON itself.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

import numpy as np
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from lib.anatomy.geometry import SegmentCrop, extract_crop, locate_segments, paste_heatmap
from lib.anatomy.landmarks import estimate_landmarks
from lib.anatomy.levels import segment_status
from lib.anatomy.measurements import all_measurements
from lib.core.errors import AppError, BadInputError, ModelNotReadyError
from lib.core.http import http_error
from lib.io.labels import write_label_map
from lib.io.reader import read_radiograph
from lib.models.cards import model_version
from lib.models.classifier import classify_crops
from lib.models.crops import COMPRESSION_INPUT_SIZE, normalise_crop
from lib.models.gradcam import gradcam_crops, heatmap_peak
from lib.models.refiner import refine_landmarks
from lib.models.transforms import LoadRadiographd
from lib.results.heatmap import heatmap_to_json
from lib.results.pipeline import (
    PIPELINE_LABELS,
    CompressionCalls,
    Measured,
    assemble_result,
    detector_spacing_mm,
    label_names_present,
    mark_positive_segments,
)

logger = logging.getLogger(__name__)


class PipelineInfer(BasicInferTask):
    """Levels, measurements and per-segment cord compression with Grad-CAM for one lateral cervical radiograph.

    levels: the ``LevelsInfer`` task; compression: an object with ``load_network(device)`` and ``threshold()``
    (``apps.models.compression.CompressionModel``) or None when that model is not available; landmarks: an object with
    ``load_network(device)`` (``apps.models.landmarks.LandmarksModel``) or None; cards: model name -> card path, read on
    every request so a retrained model's version is the one reported.
    """

    def __init__(self, levels, compression, cards: dict, max_pixels: int, device: str = "cpu", landmarks=None):
        super().__init__(
            path=None,
            network=None,
            type=InferType.SEGMENTATION,
            labels=dict(PIPELINE_LABELS),
            dimension=2,
            description="Cervical cord compression per disc segment (C2/3-C6/7) with Grad-CAM, levels and "
            "radiographic measurements, on a lateral cervical radiograph",
        )
        self.levels, self.compression = levels, compression
        self.landmarks = landmarks
        self.cards, self.max_pixels = dict(cards), max_pixels
        self._config["device"] = device

    def pre_transforms(self, data=None):
        return []  # run() reads the radiograph and drives the levels task's own transforms

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
            return self.writer(data)
        except AppError as exc:
            raise http_error(exc) from None

    def run(self, request: dict) -> dict:
        """Everything but the files: ``{"pixels", "pred" (uint8 marked label map), "heatmap" (float32 [rows, cols]
        in [0, 1] or None), "landmarks" (measured), "mask_landmarks" (before refinement), "result" (the JSON without
        file paths), "timings_ms"}``."""
        device = str(request.get("device") or self._config.get("device", "cpu"))
        started = time.perf_counter()
        if not request.get("image"):
            # MONAI Label passes an empty path when the image id is not in the datastore.
            raise BadInputError("no image to read: the image id is not in the datastore (upload it first)")
        image = read_radiograph(request["image"], max_pixels=self.max_pixels)
        levels = self._run_levels(image, device)
        report, label = levels["levels_report"], np.asarray(levels["pred"], dtype=np.uint8)
        radiograph = image.describe()
        radiograph["warnings"] = list(dict.fromkeys(radiograph["warnings"] + report.warnings))
        summary = {
            "cervical_spine_found": report.is_cervical_spine,
            "reason": report.reason,
            "found": report.found,
            "missing": report.missing,
        }
        out = {
            "pixels": image.pixels,
            "pred": label,
            "heatmap": None,
            "landmarks": {},
            "spacing_mm": image.spacing_mm,
            "timings_ms": {"levels": _ms(started)},
        }
        versions = {name: model_version(card) for name, card in self.cards.items()}
        if not report.is_cervical_spine:
            out["result"] = assemble_result(summary, {}, radiograph, versions)
            return out
        out["mask_landmarks"] = estimate_landmarks(label, image.spacing_mm, report)
        landmarks, landmark_source = self._refine(image.pixels, out["mask_landmarks"], device)
        film_spacing, note = detector_spacing_mm(image.spacing_mm, image.spacing_source, image.magnification)
        measurements = all_measurements(landmarks, film_spacing)
        out["timings_ms"]["measurements"] = _ms(started)
        # The classifier's crops stay on the mask's landmarks, as when its threshold was validated: its training
        # shifts crops by up to 5 mm, so the refiner's sub-millimetre moves do not change its answer (validation
        # AUC 0.978 on mask landmarks, 0.979 on refined ones).
        located = locate_segments(label, image.spacing_mm, out["mask_landmarks"], report)
        probabilities, peaks, threshold, why_not = self._compression(out, image.pixels, located, device)
        out["timings_ms"]["compression"] = _ms(started)
        positives = [s for s, p in probabilities.items() if threshold is not None and p >= threshold]
        out["pred"] = mark_positive_segments(label, landmarks, positives)
        out["landmarks"] = landmarks
        out["result"] = assemble_result(
            summary,
            segment_status(report.found),
            radiograph,
            versions,
            Measured(measurements, note, landmark_source),
            CompressionCalls(probabilities, peaks, threshold, why_not),
        )
        out["timings_ms"]["total"] = _ms(started)
        return out

    def _run_levels(self, image, device: str) -> dict:
        """The levels task on pixels already read: its transforms minus the loader, its inferer and post-processing."""
        data = {"image": image.pixels[None], "radiograph": image.describe(), "spacing_mm": image.spacing_mm}
        for transform in self.levels.pre_transforms(data):
            if not isinstance(transform, LoadRadiographd):
                data = transform(data)
        data = self.levels.run_inferer(data, device=device)
        return self.levels.run_post_transforms(data, self.levels.post_transforms(data))

    def _refine(self, pixels: np.ndarray, mask_landmarks: dict, device: str) -> tuple[dict, str]:
        """(landmarks to measure and crop on, where they come from): refined on the film when the refiner has
        weights, else the mask's own."""
        network = self.landmarks.load_network(device) if self.landmarks else None
        if network is None:
            return mask_landmarks, "level mask (the landmark refiner has no weights)"
        return refine_landmarks(network, pixels, mask_landmarks, device), "level mask refined on the film"

    def _compression(self, out: dict, pixels: np.ndarray, located: dict, device: str) -> tuple:
        """(probabilities, heatmap peaks, threshold, reason none were computed); fills ``out["heatmap"]``.

        located: ``lib.anatomy.geometry.locate_segments`` output. Crops are made as ``lib.models.crops.segment_crops``
        makes them (resampled to the network input, standardised), but from the landmarks already fitted here:
        ``segment_crops`` would clean the levels and fit the landmarks again (about 80 ms per radiograph).
        """
        network = self.compression.load_network(device) if self.compression else None
        if network is None:
            why = "compression model not available" if not self.compression else "compression model has no weights"
            return {}, {}, None, why
        geometry = {s: box for s, box in located.items() if isinstance(box, SegmentCrop)}  # the rest: NotEvaluable
        arrays = {s: normalise_crop(extract_crop(pixels, box, COMPRESSION_INPUT_SIZE)) for s, box in geometry.items()}
        probabilities = classify_crops(network, arrays, device=device)
        heat = gradcam_crops(network, arrays, device=device)  # switches gradients on itself
        peaks = {s: heatmap_peak(heat[s], geometry[s]) for s in heat}
        out["heatmap"] = paste_heatmap(heat, geometry, pixels.shape)
        return probabilities, peaks, float(self.compression.threshold()), None

    def writer(self, data, extension=None, dtype=None):
        """Label map as ``W x H x 1`` NRRD with the radiograph's spacing; the heatmap travels inside the JSON.

        MONAI Label's infer answer carries one file, so a second heatmap file would stay on the server where no
        client can fetch it; the JSON holds it as an 8-bit PNG (base64) on the radiograph's pixel grid instead.
        """
        label_path = _temp_path("pipeline-")
        result = write_outputs(data, label_path)
        if data["heatmap"] is not None:
            result["heatmap"] = heatmap_to_json(data["heatmap"])
        return label_path, result


def write_outputs(data: dict, label_path, heatmap_path=None) -> dict:
    """Write the marked label map (and the heatmap as uint8 0-255 when there is one); completes the JSON in place."""
    write_label_map(label_path, data["pred"], data["spacing_mm"])
    result = data["result"]
    result["heatmap"] = None
    if heatmap_path and data["heatmap"] is not None:
        heat_u8 = np.round(255.0 * np.clip(data["heatmap"], 0.0, 1.0)).astype(np.uint8)
        write_label_map(heatmap_path, heat_u8, data["spacing_mm"])
        result["heatmap"] = {"path": str(heatmap_path), "dtype": "uint8", "scale": "0-255 = Grad-CAM 0-1"}
    # Slicer names imported segments by position in label_names: list only the values present in the file.
    result["label_names"] = label_names_present(data["pred"])
    result["latencies_ms"] = dict(data.get("timings_ms", {}))
    return result


def _temp_path(prefix: str) -> str:
    fd, path = tempfile.mkstemp(suffix=".nrrd", prefix=prefix)
    os.close(fd)
    return path


def _ms(started: float) -> float:
    return round(1000.0 * (time.perf_counter() - started), 1)
