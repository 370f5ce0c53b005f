"""Centre profiles: how two hospitals' lateral cervical radiographs differ.

A profile sets the detector (pixel spacing, field of view), the exposure (photons per pixel, scatter),
collimation, how low the shoulders sit, display conventions and the population mix. Add a centre by adding
an entry to ``CENTRES``; ``PhantomConfig`` validates names against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class CentreProfile:
    """Acquisition and population settings of one centre (all lengths in mm at the detector unless said)."""

    name: str
    pixel_spacing_mm: float  # ImagerPixelSpacing, square pixels
    field_of_view_mm: Tuple[float, float]  # (height, width) at the detector
    magnification: Tuple[float, float]  # uniform range of source-to-detector / source-to-object
    photons_per_pixel: Tuple[float, float]  # unattenuated quanta per pixel, uniform range (noise level)
    scatter_to_primary: Tuple[float, float]
    heel_effect: float  # relative intensity change across the field along the anode-cathode (row) axis
    detector_blur_mm: float  # Gaussian sigma
    collimation_margin_mm: Tuple[float, float]  # unexposed border width range at the detector
    shoulder_offset_mm: Tuple[float, float]  # shoulder top relative to the C7 mid-body, patient mm (+ = lower)
    monochrome1_fraction: float  # share of images stored inverted (MONOCHROME1)
    age_years: Tuple[float, float]  # mean and SD of patient age
    curvature_mix: Dict[str, float] = field(default_factory=dict)  # class -> probability
    opll_rate: float = 0.1  # share of patients prone to ossification of the posterior longitudinal ligament
    manufacturer: str = "Phantom Imaging"


CURVATURES = ("lordotic", "straight", "sigmoid", "kyphotic")

CENTRES: Dict[str, CentreProfile] = {
    # Flat-panel DR at the training hospital: fine pixels, good exposure, shoulders usually pulled down.
    "internal": CentreProfile(
        name="internal",
        pixel_spacing_mm=0.15,
        field_of_view_mm=(180.0, 140.0),
        magnification=(1.10, 1.16),
        photons_per_pixel=(3000.0, 6000.0),
        scatter_to_primary=(0.25, 0.45),
        heel_effect=0.12,
        detector_blur_mm=0.15,
        collimation_margin_mm=(0.0, 4.0),
        shoulder_offset_mm=(-12.0, 14.0),
        monochrome1_fraction=0.0,
        age_years=(55.0, 11.0),
        curvature_mix={"lordotic": 0.5, "straight": 0.25, "sigmoid": 0.12, "kyphotic": 0.13},
        opll_rate=0.12,
        manufacturer="Phantom Imaging DR-A",
    ),
    # CR / digitised film elsewhere: coarser pixels, more noise and scatter, looser collimation, higher shoulders,
    # an older population with more straight and kyphotic necks, some images stored MONOCHROME1.
    "external": CentreProfile(
        name="external",
        pixel_spacing_mm=0.175,
        field_of_view_mm=(195.0, 150.0),
        magnification=(1.14, 1.22),
        photons_per_pixel=(1200.0, 3000.0),
        scatter_to_primary=(0.4, 0.7),
        heel_effect=0.2,
        detector_blur_mm=0.2,
        collimation_margin_mm=(3.0, 12.0),
        shoulder_offset_mm=(-15.0, 8.0),
        monochrome1_fraction=0.3,
        age_years=(60.0, 12.0),
        curvature_mix={"lordotic": 0.35, "straight": 0.3, "sigmoid": 0.15, "kyphotic": 0.2},
        opll_rate=0.08,
        manufacturer="Phantom Imaging CR-B",
    ),
}
