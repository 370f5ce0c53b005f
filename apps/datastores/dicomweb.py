"""MONAI Label's DICOMweb datastore (Orthanc behind OHIF) as this app needs it.

What 0.8.5 does and why it is changed here:
- it lists CT series only: this lists CR and DX series holding one single-frame image, and logs why others are skipped;
- it converts each series to NIfTI with ITK, which drops ImagerPixelSpacing and the MONOCHROME1 handling of
  ``lib.io.reader``: this keeps the downloaded DICOM file, which ``lib.io.reader.read_radiograph`` reads and
  ``GET /datastore/image`` serves (that endpoint answers a file, never a folder);
- it saves a final label through dcmqi (not installed): this builds the SEG with ``lib.io.dicom_results`` on
  canonical ids;
- its SEG reader knows BINARY SEGs only and takes every SEG at face value: this reads BINARY, FRACTIONAL and
  LABELMAP SEGs (OHIF 3.13 stores Label Map Segmentation Storage by default), maps segment names to the canonical
  level names (``"c5"`` is ``C5``), drops finding segments from an edited findings SEG, keeps the newest label SEG
  of an image (Series Date/Time, else Instance Creation, else Content Date/Time) and says which in the log and the
  label's info, and refuses a SEG it cannot use (other image, unknown names, another size) with a 4xx;
- a DICOMweb server that is down becomes a 503 that says so, and nothing failed is cached (downloads land in a
  temporary folder and are renamed into place), so the server recovers when Orthanc comes back. A saved pipeline
  result (``save_label`` on the pipeline) is written back to the study as a findings SEG, an overlay Secondary
  Capture and a measurement SR, all built before one STOW-RS request stores them.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

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
from lib.core.errors import AppError, BadInputError
from lib.core.http import http_error
from lib.core.names import check_name
from lib.io.dicom_results import findings_datasets, label_seg, level_label, read_seg_content
from lib.io.dicom_results.common import MANUFACTURER
from lib.io.labels import check_label_pixels, read_label_map, write_label_map
from lib.io.reader import read_radiograph, single_dicom_in
from lib.io.series import LABEL_DESCRIPTION, TO_CORRECT_DESCRIPTION, WRITE_BACK_PREFIX
from lib.results.heatmap import heatmap_from_json

logger = logging.getLogger(__name__)

RADIOGRAPH_MODALITIES = ("CR", "DX")
LISTING_TTL_S = 10.0  # short: an upload to Orthanc shows up within seconds, not after MONAI Label's 2 hours


@dataclass(frozen=True)
class SegSeries:
    """What the listing needs of one SEG series, read once from its metadata (a stored series does not change)."""

    uid: str
    study: str
    referenced_series: tuple[str, ...]
    created: str  # sortable "YYYYMMDDHHMMSS.ffffff" or "" when the SEG carries no date
    created_from: str
    write_back: bool  # the app's own pipeline findings


@dataclass
class LabelChoice:
    """The label SEG used for one image, and the others it was chosen over."""

    image: str
    label: str
    created: str
    created_from: str
    older: list[str] = field(default_factory=list)

    def info(self) -> dict:
        return {
            "image": self.image,
            "SeriesInstanceUID": self.label,
            "created": self.created or "unknown",
            "chosen": (
                f"newest of {len(self.older) + 1} label SEGs by {self.created_from}" if self.older else "only label SEG"
            ),
            "older_label_series": list(self.older),
        }


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
        self._segs: dict[str, SegSeries] = {}
        self._choices: dict[str, LabelChoice] = {}
        self._label_notes: dict[str, dict] = {}

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
                level = logging.DEBUG if modality in ("SEG", "OT", "SR") else logging.INFO
                logger.log(level, "series %s skipped: modality %s is not a radiograph (CR/DX)", uid, modality)

    def status(self) -> dict:
        try:
            return super().status()
        except HTTPException as exc:  # /info/ must answer while Orthanc is down: the panel shows the reason
            return {"total": 0, "completed": 0, "label_tags": {}, "error": exc.detail}

    # Labels: which SEG is whose ------------------------------------------------------------------------------

    def get_labeled_images(self, label_tag=None, labels=None) -> list[str]:
        return sorted(pair["image"] for pair in self._label_pairs())

    def get_unlabeled_images(self, label_tag=None, labels=None) -> list[str]:
        return sorted(set(self.list_images()) - set(self.get_labeled_images()))

    def get_labels_by_image_id(self, image_id: str) -> dict[str, str]:
        labels = dict(super().get_labels_by_image_id(image_id))
        choice = next((p for p in self._label_pairs() if p["image"] == image_id), None)
        if choice:
            labels[DefaultLabelTag.FINAL] = choice["label"]
        return labels

    def _label_pairs(self) -> list[dict]:
        """``{"image", "label"}`` per listed radiograph with a label SEG: the newest SEG referencing it."""
        images = set(self.list_images())
        try:
            found = [Dataset.from_json(d) for d in self._client.search_for_series(search_filters={"Modality": "SEG"})]
            candidates: dict[str, list[SegSeries]] = {}
            for meta in found:
                seg = self._seg_series(meta)
                if seg is None or seg.write_back:
                    continue
                targets = [uid for uid in seg.referenced_series if uid in images]
                if not targets:
                    if seg.uid not in self._skipped:
                        self._skipped.add(seg.uid)
                        logger.info(
                            "SEG series %s skipped: it references %s, not a radiograph listed here",
                            seg.uid,
                            ", ".join(seg.referenced_series) or "no series",
                        )
                    continue
                candidates.setdefault(targets[0], []).append(seg)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        choices = {image: _newest(image, segs) for image, segs in candidates.items()}
        for image, choice in choices.items():
            previous = self._choices.get(image)
            if choice.older and (previous is None or previous.label != choice.label):
                logger.info(
                    "image %s has %d label SEGs: using the newest, series %s (%s %s); older: %s",
                    image,
                    len(choice.older) + 1,
                    choice.label,
                    choice.created_from,
                    choice.created or "unknown",
                    ", ".join(choice.older),
                )
        self._choices = choices
        return [{"image": image, "label": c.label} for image, c in sorted(choices.items())]

    def _seg_series(self, meta: Dataset) -> Optional[SegSeries]:
        uid, study = str(meta.get("SeriesInstanceUID", "")), str(meta.get("StudyInstanceUID", ""))
        if not uid or not study:
            return None
        if uid not in self._segs:
            first = self._client.retrieve_series_metadata(study, uid)
            if not first:
                return None
            seg = Dataset.from_json(first[0])
            description = str(seg.get("SeriesDescription", "") or meta.get("SeriesDescription", ""))
            created, created_from = creation_time(seg)
            self._segs[uid] = SegSeries(
                uid=uid,
                study=study,
                referenced_series=tuple(
                    str(r.SeriesInstanceUID)
                    for r in seg.get("ReferencedSeriesSequence") or []
                    if "SeriesInstanceUID" in r
                ),
                created=created,
                created_from=created_from,
                write_back=description.startswith((WRITE_BACK_PREFIX, TO_CORRECT_DESCRIPTION))
                and str(seg.get("Manufacturer", "")) == MANUFACTURER,
            )
        return self._segs[uid]

    def get_label_info(self, label_id: str, label_tag: str) -> dict:
        if label_tag != DefaultLabelTag.FINAL:
            return super().get_label_info(label_id, label_tag)
        self._label_pairs()
        choice = self._choices.get(label_id) or next((c for c in self._choices.values() if c.label == label_id), None)
        info = dict(self._label_notes.get(choice.label if choice else label_id, {}))
        if choice:
            info.update(choice.info())
        if not info:
            raise HTTPException(status_code=404, detail=f"no final label {label_id} (image or SEG series) here")
        return info

    # Files --------------------------------------------------------------------------------------------------

    def get_image_uri(self, image_id: str) -> str:
        """The series' one DICOM file, downloaded once into the cache (so ``GET /datastore/image`` can send it)."""
        try:
            folder = Path(self._datastore.image_path()) / check_name(image_id, "image id")  # a series UID
            self._download(image_id, folder)
            return str(single_dicom_in(folder))
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        except IndexError:  # MONAI Label's download finds no series with that UID
            raise HTTPException(status_code=404, detail=f"series {image_id} is not on the DICOMweb server") from None
        except AppError as exc:
            raise http_error(exc) from None

    def _download(self, series_id: str, folder: Path) -> None:
        """The series into ``folder`` unless already there; through a temporary folder, renamed when complete."""
        if folder.is_dir() and any(folder.iterdir()):
            return
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{series_id[-16:]}.partial-"))
        try:
            dicom_web_download_series(None, series_id, str(partial), self._client)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
            try:
                os.rename(partial, folder)
            except OSError:  # another request finished the same download first: keep its copy
                if not (folder.is_dir() and any(folder.iterdir())):
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def get_label_uri(self, label_id: str, label_tag: str, image_id: str = "") -> str:
        """A final label: the SEG series (or, given an image id, that image's newest label SEG) downloaded and
        turned into canonical ids by its segment names; a SEG that cannot be that image's label is a 4xx."""
        try:
            check_name(label_tag, "label tag")
            check_name(label_id, "image id")  # a SEG or image series UID, both folder names in the cache
        except AppError as exc:
            raise http_error(exc) from None
        if label_tag != DefaultLabelTag.FINAL:
            return super().get_label_uri(label_id, label_tag, image_id)
        label_id, image_id = self._resolve_label(label_id, image_id)
        folder = Path(self._datastore.label_path(label_tag)) / label_id
        target = Path(self._datastore.label_path(label_tag)) / f"{label_id}.nii.gz"
        try:
            self._download(label_id, folder)
            content = _seg_content(label_id, single_dicom_in(folder))
            levels = level_label(content)
            image_id = self._check_reference(content, image_id, label_id)
            image = read_radiograph(self.get_image_uri(image_id), self._max_image_pixels)
            if content.shape != image.shape:
                raise BadInputError(
                    f"SEG {label_id} is {content.shape[0]} x {content.shape[1]} pixels, its image {image_id} is "
                    f"{image.shape[0]} x {image.shape[1]}: it cannot be that image's label"
                )
            write_label_map(target, levels.label, image.label_geometry())
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        except IndexError:
            raise HTTPException(status_code=404, detail=f"series {label_id} is not on the DICOMweb server") from None
        except AppError as exc:
            raise http_error(exc) from None
        if levels.dropped_findings:
            logger.info("label SEG %s: finding segments %s dropped (not anatomy)", label_id, levels.dropped_findings)
        self._label_notes[label_id] = {
            "image": image_id,
            "SeriesInstanceUID": label_id,
            "segmentation_type": content.segmentation_type,
            "levels": levels.levels,
            "dropped_findings": levels.dropped_findings,
        }
        return str(target)

    def _resolve_label(self, label_id: str, image_id: str) -> tuple[str, str]:
        """(SEG series, image): an image id stands for its newest label SEG (MONAI Label's scoring asks so)."""
        if label_id in set(self.list_images()):
            pair = next((p for p in self._label_pairs() if p["image"] == label_id), None)
            if pair is None:
                raise HTTPException(status_code=404, detail=f"image {label_id} has no label SEG")
            return pair["label"], label_id
        return label_id, image_id

    def _check_reference(self, content, image_id: str, label_id: str) -> str:
        """The radiograph the SEG labels: the one it references, which must be listed (and ``image_id`` when
        given), down to its SOP instance when the SEG names instances."""
        images = set(self.list_images())
        referenced = [uid for uid in content.referenced_series if uid in images]
        if image_id and image_id not in content.referenced_series:
            raise BadInputError(
                f"SEG {label_id} references series {', '.join(content.referenced_series) or '(none)'}, "
                f"not the image {image_id}"
            )
        if not referenced:
            raise BadInputError(
                f"SEG {label_id} references {', '.join(content.referenced_series) or 'no series'}, which is not a "
                "radiograph on this server: draw the label on the radiograph itself"
            )
        image_id = image_id or referenced[0]
        source = pydicom.dcmread(self.get_image_uri(image_id), stop_before_pixels=True)
        if content.referenced_instances and str(source.SOPInstanceUID) not in content.referenced_instances:
            raise BadInputError(
                f"SEG {label_id} references instances {content.referenced_instances[:3]}, not the radiograph "
                f"{source.SOPInstanceUID} of series {image_id}"
            )
        return image_id

    def datalist(self, full_path=True) -> list[dict]:
        """Every radiograph with a usable label SEG: its DICOM file and the canonical label map (a SEG that
        cannot be used is left out, with the reason in the log)."""
        out = []
        for pair in self._label_pairs():
            try:
                label = self.get_label_uri(pair["label"], DefaultLabelTag.FINAL, pair["image"])
            except HTTPException as exc:
                if exc.status_code == 503:
                    raise
                logger.warning("label SEG %s of %s left out of training: %s", pair["label"], pair["image"], exc.detail)
                continue
            out.append({"image": self.get_image_uri(pair["image"]), "label": label})
        return out

    # Writing ------------------------------------------------------------------------------------------------

    def save_label(self, image_id, label_filename, label_tag, label_info, label_id=""):
        """Final labels go to the PACS as SEG (kept in the local cache too); the levels model's saved answer (tag
        "original") goes there as a SEG to correct with every level named; a saved pipeline result is written back
        as findings; other tags stay in the local cache."""
        info = dict(label_info or {})
        try:
            check_name(label_tag, "label tag")  # the tag names a folder of the local cache
            check_label_pixels(label_filename, self._max_image_pixels, f"label for {image_id}")
        except AppError as exc:
            raise http_error(exc) from None
        if info.get("model") == "pipeline" and isinstance(info.get("params"), dict):
            return self.write_back(image_id, label_filename, info["params"])
        path = self.get_image_uri(image_id)
        try:
            image = read_radiograph(path, self._max_image_pixels)
            to_correct = label_tag == DefaultLabelTag.ORIGINAL and info.get("model") == "levels"
            label = canonical_label(label_filename, info.get("label_info"), image.shape, image_id, to_correct)
            seg = None
            if label_tag == DefaultLabelTag.FINAL:
                names = {v: n for n, v in LEVEL_LABELS.items()}
                seg = label_seg(_source(path), label, names, LABEL_DESCRIPTION)
            elif to_correct:  # nothing found is a SEG to paint from scratch, each level named
                seg = label_seg(_source(path), label, {}, TO_CORRECT_DESCRIPTION, series_number=301, every_level=True)
            local = write_label_map(
                Path(self._datastore.label_path(label_tag)) / f"{image_id}.nii.gz", label, image.label_geometry()
            )
        except AppError as exc:
            raise http_error(exc) from None
        if seg is None:
            return image_id
        try:
            self._store([seg])
        except HTTPException as exc:
            message = (
                f"label for {image_id} kept in the local cache ({local}); storing it as DICOM SEG on "
                f"{self._client.base_url} failed ({exc.detail}): save again when the server is back"
            )
            logger.error(message)
            raise HTTPException(status_code=exc.status_code, detail=message) from None
        logger.info("label for %s stored as SEG series %s", image_id, seg.SeriesInstanceUID)
        return str(seg.SeriesInstanceUID)

    def write_back(self, image_id: str, label_filename: str, result: dict) -> str:
        """The pipeline's findings into the source study: SEG (when something was found), overlay SC and SR."""
        path = self.get_image_uri(image_id)
        try:
            image = read_radiograph(path, self._max_image_pixels)
            label = read_label_map(label_filename).astype(np.uint8)
            heatmap = heatmap_from_json(result.get("heatmap"))
            # The measured landmarks travel in the JSON; without them (no spine found) the SR holds values only.
            datasets = findings_datasets(
                _source(path), label, result, image.pixels, heatmap, landmarks=result.get("landmarks")
            )
        except AppError as exc:
            raise http_error(exc) from None
        self._store(list(datasets.values()))
        uids = {kind: str(ds.SeriesInstanceUID) for kind, ds in datasets.items()}
        logger.info("pipeline findings for %s written back as series %s", image_id, uids)
        return uids.get("seg", uids["sc"])

    def _store(self, datasets: list[Dataset]) -> None:
        """One STOW-RS request for all of them (each built and encoded before it is sent); 503 when the server is
        unreachable, 502 naming the instances it refused."""
        for attempt in (1, 2):
            try:
                answer = self._client.store_instances(datasets)
                break
            except requests.ConnectionError as exc:
                # A kept-alive connection the server closed while idle (Orthanc closes them after about a second)
                # fails a POST, which is never resent by itself: once more, on a fresh connection.
                if attempt == 2:
                    raise self._unreachable(exc) from None
                logger.info("STOW-RS to %s: connection dropped (%s); sending again", self._client.base_url, exc)
            except requests.RequestException as exc:
                raise self._unreachable(exc) from None
        failed = [str(item.get("ReferencedSOPInstanceUID", "?")) for item in answer.get("FailedSOPSequence") or []]
        if failed:
            message = f"the DICOMweb server {self._client.base_url} refused instances {failed}"
            logger.error(message)
            raise HTTPException(status_code=502, detail=message)


def creation_time(ds: Dataset) -> tuple[str, str]:
    """(sortable "YYYYMMDDHHMMSS.ffffff", which attributes gave it): Series Date/Time, else Instance Creation
    Date/Time, else Content Date/Time; ("", "no date") when none is there."""
    for prefix, what in (
        ("Series", "SeriesDate/SeriesTime"),
        ("InstanceCreation", "InstanceCreationDate/Time"),
        ("Content", "ContentDate/ContentTime"),
    ):
        date = str(ds.get(f"{prefix}Date", "") or "").strip()
        if len(date) == 8 and date.isdigit():
            raw = str(ds.get(f"{prefix}Time", "") or "").strip()
            whole, _, fraction = raw.partition(".")
            whole = "".join(c for c in whole if c.isdigit())[:6].ljust(6, "0")
            fraction = "".join(c for c in fraction if c.isdigit())[:6].ljust(6, "0")
            return f"{date}{whole}.{fraction}", what
    return "", "no date"


def _newest(image: str, segs: list[SegSeries]) -> LabelChoice:
    ordered = sorted(segs, key=lambda s: (s.created, s.uid), reverse=True)
    best = ordered[0]
    return LabelChoice(image, best.uid, best.created, best.created_from, [s.uid for s in ordered[1:]])


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


def _seg_content(series: str, path: Path):
    """The SEG's content; what is not a usable SEG (another application's SR, say) is refused naming the series."""
    try:
        return read_seg_content(pydicom.dcmread(str(path)))
    except BadInputError as exc:
        raise BadInputError(f"series {series}: {exc}") from None


def _source(path: str) -> Dataset:
    return pydicom.dcmread(str(path), stop_before_pixels=True)
