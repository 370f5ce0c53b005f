"""Ground truth of a phantom image: level mask, landmarks and the true measurements.

Hidden levels: a body is annotated only when at least 30 % of it is inside the image and clear of the opaque
part of the shoulders (``patient.VISIBLE_FRACTION_TO_ANNOTATE``); a body that is not gets no label and both its
segments are marked ``evaluable: false``. Annotated bodies are labelled whole, also where a shoulder covers them.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from lib.anatomy.measurements import all_measurements
from lib.anatomy.names import CORNERS, VERTEBRAE
from lib.phantom.patient import PatientSpec
from lib.phantom.raster import fill_polygon
from lib.phantom.scene_bones import dens_outline, pathology_bones

LABELS = {"C2": 1, "C3": 2, "C4": 3, "C5": 4, "C6": 5, "C7": 6, "spinal_canal": 7}
BODY_ORDER = ("anterior_superior", "anterior_inferior", "posterior_inferior", "posterior_superior")


def landmarks_px(spec: PatientSpec, levels=VERTEBRAE) -> Dict[str, Dict[str, List[float]]]:
    """``{level: {corner or "spinolaminar": [x, y]}}`` in pixel coordinates (x = column, y = row)."""
    out = {}
    for level in levels:
        body = spec.spine.bodies[level]
        points = {name: body.corners[name] for name in CORNERS}
        points["spinolaminar"] = body.spinolaminar
        out[level] = {name: [float(v) for v in spec.to_px(p)] for name, p in points.items()}
    return out


def _canal_outline(spec: PatientSpec, levels) -> np.ndarray:
    """Canal polygon (px): posterior body walls down the front, spinolaminar line back up."""
    bodies = [spec.spine.bodies[lv] for lv in levels]
    front = [p for b in bodies for p in (b.corners["posterior_superior"], b.corners["posterior_inferior"])]
    # Carry the spinolaminar line to the top of the first and the bottom of the last body along the wall.
    first, last = bodies[0], bodies[-1]
    top = first.spinolaminar + (first.corners["posterior_superior"] - first.posterior_mid)
    bottom = last.spinolaminar + (last.corners["posterior_inferior"] - last.posterior_mid)
    back = [bottom] + [b.spinolaminar for b in reversed(bodies)] + [top]
    return spec.to_px(np.array(front + back))


def level_mask(spec: PatientSpec) -> np.ndarray:
    """uint8 [rows, cols]: C2..C7 bodies 1..6 (annotated levels only), spinal canal 7 from C2 to the lowest one."""
    shape = spec.shape_px
    mask = np.zeros(shape, dtype=np.uint8)
    levels = [lv for lv in VERTEBRAE if lv in spec.annotated_levels]
    if len(levels) >= 2:
        canal = fill_polygon(_canal_outline(spec, levels), shape)
        for bone in pathology_bones(spec):  # osteophytes and OPLL are bone inside the bony canal outline
            canal &= ~fill_polygon(spec.to_px(bone.outline_mm), shape)
        mask[canal] = LABELS["spinal_canal"]
    for level in levels:
        body = spec.spine.bodies[level]
        region = fill_polygon(spec.to_px(np.array([body.corners[k] for k in BODY_ORDER])), shape)
        if level == "C2":
            region |= fill_polygon(spec.to_px(dens_outline(body)), shape)
        mask[region] = LABELS[level]
    return mask


def segment_truth(spec: PatientSpec) -> Dict[str, dict]:
    """Per segment: compression, kang, sac_mm, evaluable, visible_features (+ invisible ones, for analysis)."""
    return {
        s: {
            "compression": v["compression"],
            "kang": v["kang"],
            "sac_mm": round(v["sac_mm"], 3),
            "evaluable": v["evaluable"],
            "visible_features": {k: round(x, 3) for k, x in v["visible_features"].items()},
            "invisible_features": {k: round(x, 3) for k, x in v["invisible_features"].items()},
        }
        for s, v in spec.segments.items()
    }


def true_measurements(spec: PatientSpec) -> dict:
    """``all_measurements`` on the annotated levels' true landmarks, at the detector (film) spacing."""
    marks = landmarks_px(spec, [lv for lv in VERTEBRAE if lv in spec.annotated_levels])
    result = all_measurements(marks, (spec.spacing_mm, spec.spacing_mm))
    result["spacing_convention"] = "imager (film size; divide mm by the magnification for true size)"
    return result
