"""One film-style case: the drawing and its truth from the same outlines and the same ``FilmSpec.to_px``.

The level map labels each annotated body by the outline that was drawn (curved endplates, lip, rounded corners)
and C2 with its dens; the canal is the schematic style's (posterior walls to the spinolaminar line, minus
osteophytes and OPLL). Landmarks are the body corners and spinolaminar points, and the measurements are taken on
them at the film's own spacing, exactly as in the schematic style.
"""

from __future__ import annotations

import numpy as np

from lib.anatomy.names import VERTEBRAE
from lib.phantom.case import PhantomCase
from lib.phantom.config import PhantomConfig
from lib.phantom.film.acquisition import form_film_image
from lib.phantom.film.scene import film_line_integral, film_outlines
from lib.phantom.film.shapes import dens_film_outline
from lib.phantom.film.spec import FilmSpec, sample_film_patient
from lib.phantom.patient import patient_rngs
from lib.phantom.raster import fill_polygon
from lib.phantom.truth import LABELS, landmarks_px, level_mask, segment_truth, true_measurements


def film_level_mask(spec: FilmSpec) -> np.ndarray:
    """uint8 [rows, cols]: C2..C7 1..6 on the drawn outlines (annotated levels only), the canal 7."""
    mask = level_mask(spec)
    mask[mask != LABELS["spinal_canal"]] = 0  # keep the canal, redraw the bodies on their film outlines
    outlines = film_outlines(spec)
    for level in (lv for lv in VERTEBRAE if lv in spec.annotated_levels):
        region = fill_polygon(spec.to_px(outlines[level]), spec.shape_px)
        if level == "C2":
            region |= fill_polygon(spec.to_px(dens_film_outline(spec.spine.bodies["C2"])), spec.shape_px)
        mask[region] = LABELS[level]
    return mask


def generate_film_patient(config: PhantomConfig, index: int) -> PhantomCase:
    """Render patient ``index`` as a film; deterministic in (config, index)."""
    spec = sample_film_patient(config, index)
    _, noise_rng = patient_rngs(config.seed, index)
    attenuation = film_line_integral(spec, noise_rng)
    image, stored = form_film_image(attenuation, spec, noise_rng)
    return PhantomCase(
        spec=spec,
        image=image,
        stored=stored,
        line_integral=attenuation,
        mask=film_level_mask(spec),
        landmarks=landmarks_px(spec, list(spec.annotated_levels)),
        segments=segment_truth(spec),
        measurements=true_measurements(spec),
    )
