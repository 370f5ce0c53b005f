"""The film style of the phantom: the same patients (anatomy, pathology, labels) drawn and exposed like a real
lateral radiograph, with per-film posture, facing, rotation, magnification, spacing and field of view.

Opt-in (``python main.py phantom --style film``); the schematic style stays the default. The ground truth (level
map, landmarks, measurements) comes from the same scene geometry as the drawing, as in the schematic style.
"""

from lib.phantom.film.case import generate_film_patient
from lib.phantom.film.spec import FilmSpec, sample_film_patient

__all__ = ["FilmSpec", "generate_film_patient", "sample_film_patient"]
