"""What a batch run works through: one ``Film`` per radiograph, from a folder tree or a DICOMweb server (QIDO).

A folder film is keyed by ``lib.batch.results.file_key`` (SOPInstanceUID, else file hash); a DICOMweb film by its
SOPInstanceUID from the QIDO answer, so listing an archive reads no pixel data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from lib.batch.results import file_key

logger = logging.getLogger(__name__)

RADIOGRAPH_MODALITIES = ("CR", "DX")


@dataclass(frozen=True)
class Film:
    key: str
    source: str  # a file path, or "<dicomweb url> study/series/instance"
    path: Optional[str] = None
    study: Optional[str] = None
    series: Optional[str] = None
    instance: Optional[str] = None
    patient_id: str = ""


def folder_films(folder: Path) -> tuple[list[Film], list[dict]]:
    """(films, skipped): every radiograph file under ``folder`` (recursive, leaving out ``labels/`` folders: a
    datastore's label maps are no films); files that cannot be keyed are listed with the reason and skipped."""
    from lib.io.reader import RADIOGRAPH_EXTENSIONS

    folder = Path(folder)
    paths = sorted(
        {
            p
            for pattern in RADIOGRAPH_EXTENSIONS
            for p in folder.rglob(pattern)
            if p.is_file() and "labels" not in p.relative_to(folder).parts[:-1]
        }
    )
    films, skipped = [], []
    for path in paths:
        try:
            films.append(Film(key=file_key(path), source=str(path), path=str(path), patient_id=_patient_id(path)))
        except Exception as exc:  # noqa: BLE001 - an archive holds all sorts; each one is reported, none stops the run
            skipped.append({"source": str(path), "reason": f"{type(exc).__name__}: {exc}"})
    return films, skipped


def datastore_films(studies: Path, max_image_pixels: int) -> tuple[list[Film], list[dict]]:
    """The radiographs of a local datastore (its index, not its folder tree), keyed like folder films."""
    from apps.datastores.local import RadiographDatastore

    store = RadiographDatastore(str(studies), max_image_pixels=max_image_pixels, read_only=True)
    films, skipped = [], []
    for image_id in sorted(store.list_images()):
        path = Path(store.get_image_uri(image_id))
        patient = str(store.get_image_info(image_id).get("patient_id") or "")
        try:
            films.append(Film(key=file_key(path), source=str(path), path=str(path), patient_id=patient))
        except Exception as exc:  # noqa: BLE001 - reported, never stops the run
            skipped.append({"source": str(path), "reason": f"{type(exc).__name__}: {exc}"})
    return films, skipped


def _patient_id(path: Path) -> str:
    from lib.io.reader import sniff_format

    if sniff_format(path) != "dicom":
        return ""
    import pydicom

    ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["PatientID"])
    return str(ds.get("PatientID", "") or "")


def qido_filters(modalities=RADIOGRAPH_MODALITIES, study_dates: str = "", body_part: str = "") -> list[dict]:
    """QIDO-RS series filters, one per modality (QIDO matches one value per attribute)."""
    out = []
    for modality in modalities:
        query = {"Modality": modality}
        if study_dates:
            query["StudyDate"] = study_dates  # DICOM range matching, e.g. 20240101-20241231
        if body_part:
            query["BodyPartExamined"] = body_part
        out.append(query)
    return out


def dicomweb_films(client, url: str, filters: list[dict]) -> list[Film]:
    """Every instance of every series matching one of ``filters`` on the DICOMweb server behind ``client``."""
    films, seen = [], set()
    for query in filters:
        for series in client.search_for_series(search_filters=query, fields=["PatientID", "StudyInstanceUID"]):
            study, uid = qido_value(series, "0020000D"), qido_value(series, "0020000E")
            if not study or not uid or uid in seen:
                continue
            seen.add(uid)
            films += series_films(client, url, study, uid, qido_value(series, "00100020"))
    return films


def series_films(client, url: str, study: str, series: str, patient_id: str = "") -> list[Film]:
    """The films (instances) of one series, keyed by SOPInstanceUID, from a QIDO instance search."""
    films = []
    for instance in client.search_for_instances(study, series, fields=["PatientID"]):
        sop = qido_value(instance, "00080018")
        if sop:
            films.append(
                Film(
                    key=sop,
                    source=f"{url} {study}/{series}/{sop}",
                    study=study,
                    series=series,
                    instance=sop,
                    patient_id=qido_value(instance, "00100020") or patient_id,
                )
            )
    return films


def qido_value(item: dict, tag: str) -> str:
    values = (item.get(tag) or {}).get("Value") or [""]
    return str(values[0])
