"""One rendered phantom case: image, mask, landmarks, segment labels and measurements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np

from lib.phantom.config import PhantomConfig
from lib.phantom.imaging import form_image
from lib.phantom.patient import PatientSpec, patient_rngs, sample_patient
from lib.phantom.scene import line_integral
from lib.phantom.truth import landmarks_px, level_mask, segment_truth, true_measurements


@dataclass
class PhantomCase:
    """A generated patient.

    image: float32 [rows, cols] in [0, 1], bone bright (display convention, MONOCHROME2 sense).
    stored: uint16 [rows, cols], 12-bit values as written to DICOM before any MONOCHROME1 inversion.
    line_integral: float32 [rows, cols], noise-free sum of mu * t (bone high).
    mask: uint8 [rows, cols] with ``truth.LABELS``. landmarks: pixel (x, y) per annotated level.
    spacing_mm: (row, col) detector spacing; magnification: source-detector / source-object distance.
    """

    spec: PatientSpec
    image: np.ndarray
    stored: np.ndarray
    line_integral: np.ndarray
    mask: np.ndarray
    landmarks: Dict[str, Dict[str, list]]
    segments: Dict[str, dict]
    measurements: dict

    @property
    def image_id(self) -> str:
        return self.spec.image_id

    @property
    def spacing_mm(self):
        return (self.spec.spacing_mm, self.spec.spacing_mm)

    @property
    def magnification(self) -> float:
        return self.spec.magnification


def generate_patient(config: PhantomConfig, index: int) -> PhantomCase:
    """Render patient ``index`` (0-based) of the cohort; deterministic in (config, index)."""
    spec = sample_patient(config, index)
    _, noise_rng = patient_rngs(config.seed, index)
    attenuation = line_integral(spec)
    image, stored = form_image(attenuation, spec, noise_rng)
    annotated = [lv for lv in spec.annotated_levels]
    return PhantomCase(
        spec=spec,
        image=image,
        stored=stored,
        line_integral=attenuation,
        mask=level_mask(spec),
        landmarks=landmarks_px(spec, annotated),
        segments=segment_truth(spec),
        measurements=true_measurements(spec),
    )
