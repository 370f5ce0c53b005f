"""MONAI Label's DICOMweb datastore (Orthanc behind OHIF) as this app needs it.

What 0.8.5 does and why it is changed here:
- it lists CT series only: this lists CR and DX series holding one single-frame image, and logs why others are skipped;
- it converts each series to NIfTI with ITK, which drops ImagerPixelSpacing and the MONOCHROME1 handling of
  ``lib.io.reader``: this keeps the downloaded DICOM folder, which ``lib.io.reader.read_radiograph`` reads;
- it saves a final label through dcmqi (not installed) and pydicom-seg needs an image position a radiograph has
  not: this builds the SEG with ``lib.io.dicom_export`` on canonical ids and reads SEGs back by segment name;
- a DICOMweb server that is down becomes a 503 that says so, and nothing failed is cached, so the server
  recovers when Orthanc comes back. A saved pipeline result (``save_label`` on the pipeline) is written
  back to the study as a findings SEG and an overlay Secondary Capture.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pydicom
import requests
from fastapi import HTTPException
from monailabel.config import settings as ml_settings
from monailabel.datastore.dicom import DICOMwebClientX, DICOMWebDatastore
from monailabel.datastore.utils.dicom import dicom_web_download_series
from monailabel.interfaces.datastore import DefaultLabelTag
from pydicom.dataset import Dataset

from apps.datastores.local import canonical_label
from lib.anatomy.names import LEVEL_LABELS
from lib.core.errors import AppError
from lib.core.http import http_error
from lib.io.dicom_export import findings_datasets, label_seg, read_seg
from lib.io.labels import read_label_map, remap_by_name, write_label_map
from lib.io.reader import read_radiograph, single_dicom_in
from lib.results.heatmap import heatmap_from_json

logger = logging.getLogger(__name__)

RADIOGRAPH_MODALITIES = ("CR", "DX")
LISTING_TTL_S = 10.0  # short: an upload to Orthanc shows up within seconds, not after MONAI Label's 2 hours
FINDINGS_PREFIX = "Cervical cord"  # write-back series: never training labels


def make_datastore(studies: str, max_image_pixels: int) -> "RadiographDICOMwebDatastore":
    """The datastore on a DICOMweb URL with MONAI Label's own client settings (prefixes, cache path)."""
    client = DICOMwebClientX(
        url=studies.rstrip("/"),
        session=None,
        qido_url_prefix=ml_settings.MONAI_LABEL_QIDO_PREFIX,
        wado_url_prefix=ml_settings.MONAI_LABEL_WADO_PREFIX,
        stow_url_prefix=ml_settings.MONAI_LABEL_STOW_PREFIX,
    )
    # dicomweb-client retries a refused connection for about 30 s: a request would hang that long while Orthanc
    # is down. Fail at once with a clear 503 instead; the client asks again.
    client.set_http_retry_params(retry=False)
    cache = (ml_settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or "").strip() or None
    return RadiographDICOMwebDatastore(client, cache, max_image_pixels)


class RadiographDICOMwebDatastore(DICOMWebDatastore):
    """Single-image CR/DX series of a DICOMweb server, kept as DICOM; labels as SEG with canonical names."""

    def __init__(self, client, cache_path, max_image_pixels: int):
        super().__init__(client, search_filter={"Modality": "DX"}, cache_path=cache_path, convert_to_nifti=False)
        self._max_image_pixels = max_image_pixels
        self._listing: tuple[float, list[str]] = (-1e9, [])
        self._skipped: set[str] = set()

    def _unreachable(self, exc: Exception) -> HTTPException:
        message = (
            f"the DICOMweb server {self._client.base_url} is not reachable ({type(exc).__name__}); "
            "start it (python main.py orthanc start) and try again"
        )
        logger.error(message)
        self._listing = (-1e9, [])  # the server is gone: the next listing must ask it again
        return HTTPException(status_code=503, detail=message)

    def list_images(self) -> list[str]:
        """SeriesInstanceUIDs of CR/DX series with exactly one single-frame image (cached for a few seconds)."""
        stamp, series = self._listing
        if time.monotonic() - stamp < LISTING_TTL_S:
            return list(series)
        try:
            instances = [
                Dataset.from_json(d)
                for m in RADIOGRAPH_MODALITIES
                for d in self._client.search_for_instances(
                    search_filters={"Modality": m}, fields=["NumberOfFrames", "SeriesInstanceUID"]
                )
            ]
            self._log_other_modalities()
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        series = radiograph_series(instances, self._skipped)
        self._listing = (time.monotonic(), series)
        return list(series)

    def _log_other_modalities(self) -> None:
        for meta in map(Dataset.from_json, self._client.search_for_series()):
            uid, modality = str(meta.get("SeriesInstanceUID", "")), str(meta.get("Modality", "?"))
            if modality not in RADIOGRAPH_MODALITIES and uid not in self._skipped:
                self._skipped.add(uid)
                level = logging.DEBUG if modality in ("SEG", "OT") else logging.INFO
                logger.log(level, "series %s skipped: modality %s is not a radiograph (CR/DX)", uid, modality)

    def status(self) -> dict:
        try:
            return super().status()
        except HTTPException as exc:  # /info/ must answer while Orthanc is down: the panel shows the reason
            return {"total": 0, "completed": 0, "label_tags": {}, "error": exc.detail}

    def get_labeled_images(self, label_tag=None, labels=None) -> list[str]:
        return sorted({pair["image"] for pair in self._label_pairs()})

    def get_unlabeled_images(self, label_tag=None, labels=None) -> list[str]:
        return sorted(set(self.list_images()) - set(self.get_labeled_images()))

    def _label_pairs(self) -> list[dict]:
        """``{"image", "label"}`` for each SEG series that is a training label of a listed radiograph."""
        images, pairs = set(self.list_images()), []
        try:
            for seg in map(Dataset.from_json, self._client.search_for_series(search_filters={"Modality": "SEG"})):
                if str(seg.get("SeriesDescription", "")).startswith(FINDINGS_PREFIX):
                    continue
                meta = Dataset.from_json(
                    self._client.retrieve_series_metadata(str(seg.StudyInstanceUID), str(seg.SeriesInstanceUID))[0]
                )
                referenced = meta.get("ReferencedSeriesSequence")
                image = str(referenced[0].SeriesInstanceUID) if referenced else None
                if image in images:
                    pairs.append({"image": image, "label": str(seg.SeriesInstanceUID)})
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        return pairs

    def get_image_uri(self, image_id: str) -> str:
        try:
            return super().get_image_uri(image_id)  # the series folder (convert_to_nifti is off)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        except IndexError:  # MONAI Label's download finds no series with that UID
            raise HTTPException(status_code=404, detail=f"series {image_id} is not on the DICOMweb server") from None

    def get_label_uri(self, label_id: str, label_tag: str, image_id: str = "") -> str:
        """A final label: the SEG series downloaded and turned into canonical ids by its segment names."""
        if label_tag != DefaultLabelTag.FINAL:
            return super().get_label_uri(label_id, label_tag, image_id)
        folder = Path(self._datastore.label_path(label_tag)) / label_id
        target = Path(self._datastore.label_path(label_tag)) / f"{image_id or label_id}.nii.gz"
        try:
            if not folder.exists() or not any(folder.iterdir()):
                dicom_web_download_series(None, label_id, str(folder), self._client)
            label, names = read_seg(pydicom.dcmread(str(single_dicom_in(folder))))
            spacing = (
                read_radiograph(self.get_image_uri(image_id), self._max_image_pixels).spacing_mm if image_id else None
            )
            write_label_map(target, remap_by_name(label, names), spacing)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        except AppError as exc:
            raise http_error(exc) from None
        return str(target)

    def datalist(self, full_path=True) -> list[dict]:
        """Every radiograph with a label SEG: the DICOM folder and the canonical label map."""
        return [
            {"image": self.get_image_uri(p["image"]), "label": self.get_label_uri(p["label"], "final", p["image"])}
            for p in self._label_pairs()
        ]

    def save_label(self, image_id, label_filename, label_tag, label_info, label_id=""):
        """Final labels go to the PACS as SEG (kept in the local cache first); a saved pipeline result is written
        back as findings; other tags stay in the local cache."""
        info = dict(label_info or {})
        if info.get("model") == "pipeline" and isinstance(info.get("params"), dict):
            return self.write_back(image_id, label_filename, info["params"])
        folder = self.get_image_uri(image_id)
        try:
            image = read_radiograph(folder, self._max_image_pixels)
            label = canonical_label(label_filename, info.get("label_info"), image.shape, image_id)
            local = write_label_map(
                Path(self._datastore.label_path(label_tag)) / f"{image_id}.nii.gz", label, image.spacing_mm
            )
            if label_tag != DefaultLabelTag.FINAL:
                return image_id
            names = {v: n for n, v in LEVEL_LABELS.items()}
            seg = label_seg(_source(folder), label, names, "Cervical levels label")
        except AppError as exc:
            raise http_error(exc) from None
        try:
            self._client.store_instances([seg])
        except requests.RequestException as exc:
            message = (
                f"label for {image_id} kept in the local cache ({local}); storing it as DICOM SEG on "
                f"{self._client.base_url} failed ({type(exc).__name__}): save again when the server is back"
            )
            logger.error(message)
            self._listing = (-1e9, [])
            raise HTTPException(status_code=503, detail=message) from None
        logger.info("label for %s stored as SEG series %s", image_id, seg.SeriesInstanceUID)
        return str(seg.SeriesInstanceUID)

    def write_back(self, image_id: str, label_filename: str, result: dict) -> str:
        """The pipeline's findings into the source study: SEG (when something was found) and overlay SC."""
        folder = self.get_image_uri(image_id)
        try:
            image = read_radiograph(folder, self._max_image_pixels)
            label = read_label_map(label_filename).astype(np.uint8)
            heatmap = heatmap_from_json(result.get("heatmap"))
            datasets = list(findings_datasets(_source(folder), label, result, image.pixels, heatmap).values())
        except AppError as exc:
            raise http_error(exc) from None
        try:
            self._client.store_instances(datasets)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        uids = [str(ds.SeriesInstanceUID) for ds in datasets]
        logger.info("pipeline findings for %s written back as series %s", image_id, ", ".join(uids))
        return uids[0]


def radiograph_series(instances: list[Dataset], skipped: set[str]) -> list[str]:
    """Series with exactly one single-frame instance; the others are logged once with the reason."""
    by_series: dict[str, list[Dataset]] = {}
    for ds in instances:
        by_series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    keep = []
    for uid, members in sorted(by_series.items()):
        frames = max(int(getattr(ds, "NumberOfFrames", 1) or 1) for ds in members)
        reason = (
            f"{len(members)} images (a radiograph series holds one)"
            if len(members) > 1
            else f"multi-frame ({frames} frames)"
            if frames > 1
            else None
        )
        if reason is None:
            keep.append(uid)
        elif uid not in skipped:
            skipped.add(uid)
            logger.info("series %s skipped: %s", uid, reason)
    return keep


def _source(folder: str) -> Dataset:
    return pydicom.dcmread(str(single_dicom_in(Path(folder))), stop_before_pixels=True)
