"""Levels infer task: C2-C7 bodies and the spinal canal as a label map on the radiograph's own pixels.

SEGMENTATION-typed so Slicer and OHIF list it. The network sees the letterboxed radiograph; class probabilities
are brought back to full resolution before the arg-max, then ``lib.anatomy.levels`` enforces anatomical order.
The result is a ``W x H x 1`` NRRD on the radiograph's viewer geometry (the grid ITK reads the image file on), so
it overlays the image in Slicer.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from monailabel.interfaces.tasks.infer_v2 import InferType

from infers.base import ANSWER_DIR_KEY, WeightedInferTask, answer_file
from lib.anatomy.levels import clean_levels, not_in_view, segment_status
from lib.anatomy.names import LEVEL_LABELS
from lib.io.geometry import ViewerGeometry
from lib.io.labels import write_label_map
from lib.io.radiograph import Radiograph
from lib.models.polarity import read_polarity
from lib.models.second_look import read_levels
from lib.models.transforms import LEVELS_INPUT_SIZE, Letterbox, Letterboxd, LoadRadiographd
from lib.models.weights import NetworkPool, ServedNetwork
from lib.results.pipeline import radiograph_block

logger = logging.getLogger(__name__)


class RestoreLevelsd:
    """Logits in the letterbox -> probabilities on the radiograph -> cleaned label map and a level report.

    Probabilities are restored only inside the box the low-resolution prediction marks as anatomy (plus a
    margin): the spine fills a fraction of the film, and full-size 8-class maps would dominate the run time.
    """

    MARGIN_PX = 4  # letterbox pixels around the predicted anatomy

    def __call__(self, data: dict) -> dict:
        out = dict(data)
        box = Letterbox(**{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in out["letterbox"].items()})
        low = torch.softmax(torch.as_tensor(out["pred"]).float(), dim=0)
        label = np.zeros(box.source_shape, dtype=np.uint8)
        foreground = torch.nonzero(low.max(0).indices[: box.scaled_shape[0], : box.scaled_shape[1]] > 0)
        offset = (0, 0)
        probabilities = None
        if len(foreground):
            (r0, c0), (r1, c1) = foreground.min(0).values.tolist(), foreground.max(0).values.tolist()
            rows, cols = box.source_box(
                (r0 - self.MARGIN_PX, r1 + 1 + self.MARGIN_PX), (c0 - self.MARGIN_PX, c1 + 1 + self.MARGIN_PX)
            )
            probabilities = box.restore_region(low, rows, cols)
            offset = (rows[0], cols[0])
            crop = probabilities.max(0).indices.to(torch.uint8).numpy()
        else:
            crop = label
        report = clean_levels(
            crop,
            None if probabilities is None else probabilities.numpy(),
            out.get("spacing_mm"),
            film_shape=box.source_shape,
            offset=offset,
        )
        if report.is_cervical_spine:
            label[offset[0] : offset[0] + crop.shape[0], offset[1] : offset[1] + crop.shape[1]] = report.label_map
        report.centroid_px = {k: [v[0] + offset[1], v[1] + offset[0]] for k, v in report.centroid_px.items()}
        report.label_map = label  # an empty map on a film that is not a lateral cervical spine
        out["pred"] = label
        out["levels_report"] = report
        return out


def label_grid(data: dict) -> ViewerGeometry | tuple[float, float] | None:
    """The grid a task writes its label map on: the radiograph's viewer geometry, carried as JSON in
    ``data["radiograph"]`` (the data pass MONAI's collation in training); the measurement spacing without one."""
    described = (data.get("radiograph") or {}).get("viewer_geometry")
    return ViewerGeometry.from_description(described) if described else data.get("spacing_mm")


class LevelsInfer(WeightedInferTask):
    """C2..C7 bodies and spinal canal on a lateral cervical radiograph."""

    model_name = "levels"

    def __init__(self, pool: NetworkPool, max_pixels: int, config: dict | None = None, skip_writer=False):
        super().__init__(
            pool,
            type=InferType.SEGMENTATION,
            labels=dict(LEVEL_LABELS),
            dimension=2,
            description="C2-C7 vertebral bodies and the spinal canal on a lateral cervical radiograph",
            config=config,
            skip_writer=skip_writer,
        )
        self.max_pixels = max_pixels

    def pre_transforms(self, data=None):
        return [LoadRadiographd(("image",), self.max_pixels), *self.input_transforms()]

    @staticmethod
    def input_transforms() -> list:
        """From ``[1, rows, cols]`` radiograph pixels to the network's input (after reading, before the network)."""
        return [Letterboxd(("image",), LEVELS_INPUT_SIZE)]

    def levels_on_pixels(self, image: Radiograph, device: str = "cpu") -> dict:
        """The levels of a radiograph already read: ``{"pred": uint8 [rows, cols] cleaned level map,
        "levels_report": LevelReport, "radiograph": provenance, "spacing_mm", "model_card", "polarity": Polarity,
        "pixels": the radiograph's pixels the way the levels were read (turned over when bone was dark)}``.

        The same transforms, network and post-processing as a request to this task, without reading the file
        again (the pipeline and the compression task read it once, for every model).
        """
        data = {"image": image.pixels[None], "radiograph": image.describe(), "spacing_mm": image.spacing_mm}
        for transform in self.input_transforms():
            data = transform(data)
        data = self.run_inferer(data, device=device)
        data = self.run_post_transforms(data, self.post_transforms(data))
        data["pixels"] = data["polarity"].applied_to(image.pixels)
        return data

    def infer_with(self, served: ServedNetwork, data: dict, device: str) -> dict:
        # The film is read both ways up and kept the way its bodies stand out brighter (lib.models.polarity); a
        # column leaning 15 degrees or more, or bodies larger or smaller than it reads well, are then looked at
        # a second time, turned upright and zoomed out or in (lib.models.second_look).
        image = torch.as_tensor(data["image"]).to(torch.device(device))
        content = tuple(data["letterbox"]["scaled_shape"])
        polarity, image, first = read_polarity(served.network, image, content)
        reading = read_levels(served.network, image, content, first=first)
        data["pred"], data["second_look"], data["polarity"] = reading.logits, reading.describe(), polarity
        return data

    def inverse_transforms(self, data=None):
        return None  # the letterbox is undone in post_transforms, on probabilities rather than labels

    def post_transforms(self, data=None):
        return [RestoreLevelsd()]

    def finish_result(self, path, result):
        if result.get("levels") is not None:
            # Slicer names the segments it imports by position in label_names, one per value present in the
            # file; listing absent levels would shift every name after a gap (e.g. the canal named "C7").
            present = set(result["levels"]["found"]) if result["cervical_spine_found"] else set()
            present |= {"spinal_canal"} if result.get("canal_found") else set()
            result["label_names"] = {k: v for k, v in LEVEL_LABELS.items() if k in present}
        return path, result

    def writer(self, data, extension=None, dtype=None):
        path = answer_file("levels-", data.get(ANSWER_DIR_KEY))
        write_label_map(path, np.asarray(data["pred"], dtype=np.uint8), label_grid(data))
        return path, self.result_json(data)

    def result_json(self, data: dict) -> dict:
        report = data["levels_report"]
        warnings = list(
            dict.fromkeys(report.warnings + data["polarity"].warnings + data["radiograph"].get("warnings", []))
        )
        return {
            "model": "levels",
            "model_version": str(data["model_card"].get("version", "untrained")),
            "cervical_spine_found": report.is_cervical_spine,
            "reason": report.reason
            if report.is_cervical_spine or report.reason.startswith("no cervical")
            else f"no cervical levels found: {report.reason}",
            "levels": {
                "found": report.found,
                "missing": report.missing,
                "not_in_view": not_in_view(report),
                "c2_in_view": report.c2_in_view,
                # how the network's second look turned and zoomed the film (lib.models.second_look.Reading)
                **data["second_look"],
                **data["polarity"].describe(),
                "area_mm2": report.area_mm2,
            },
            "canal_found": bool((np.asarray(data["pred"]) == LEVEL_LABELS["spinal_canal"]).any()),
            "segments": segment_status(
                report.found if report.is_cervical_spine else [],
                report.missing_reason if report.is_cervical_spine else {},
            ),
            "radiograph": radiograph_block(data["radiograph"]),
            "warnings": warnings,
        }
