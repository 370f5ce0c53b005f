"""The local datastore as this app needs it: DICOM radiographs listed, uploads checked, index writes atomic.

MONAI Label's ``LocalDatastore`` lists no ``.dcm`` files by default, accepts any upload, and rewrites its
index JSON in place (a crash mid-write loses every label's info). This subclass fixes those three things and
stores labels on the grid a viewer reads the image on (``lib.io.geometry``): a label on the image's grid as is,
one on another grid that lies on the image resampled onto it, any other refused; the checks live in ``lib``.
Because the index is replaced by a rename, its auto-reload (which watches for in-place modifications) also takes
a rename onto the index as one: that is how the server sees what a scoring or training task process wrote.
"""

from __future__ import annotations

import json
import logging
import os
import time

from filelock import FileLock
from monailabel.config import settings as ml_settings
from monailabel.datastore.local import DataModel, LocalDatastore

from lib.core.atomic import write_text_atomic
from lib.core.errors import AppError, BadInputError
from lib.core.http import http_error
from lib.core.names import check_name, is_safe_name
from lib.io.geometry import ViewerGeometry
from lib.io.labels import (
    check_label_matches,
    check_label_pixels,
    drop_findings,
    label_geometry,
    label_onto_image_grid,
    read_label_map,
    remap_by_name,
    write_label_map,
)
from lib.io.reader import RADIOGRAPH_EXTENSIONS, read_radiograph

logger = logging.getLogger(__name__)


def datastore_extensions() -> list[str]:
    """MONAI Label's configured extensions plus the radiograph formats this app reads, ``.dcm`` first."""
    merged = list(RADIOGRAPH_EXTENSIONS)
    merged += [e for e in ml_settings.MONAI_LABEL_DATASTORE_FILE_EXT if e not in merged]
    return merged


class RadiographDatastore(LocalDatastore):
    """``LocalDatastore`` that lists DICOM, refuses unreadable uploads with a 4xx, and writes its index atomically."""

    def __init__(self, path: str, max_image_pixels: int, **kwargs):
        self._max_image_pixels = max_image_pixels
        kwargs.setdefault("extensions", datastore_extensions())
        super().__init__(path, **kwargs)
        handler = getattr(self, "_handler", None)  # the auto-reload file watcher's, when there is one
        if handler is not None:
            handler.on_moved = self._on_index_replaced

    def _on_index_replaced(self, event) -> None:
        """A rename onto the index (every write of this class, here or in a task process) modifies it: reload it
        when another process wrote it (``_init_from_datastore_file`` compares its time with this one's last write)."""
        if getattr(event, "dest_path", None) == self._datastore_config_path:
            self._init_from_datastore_file()

    def add_image(self, image_id, image_filename, image_info):
        try:
            check_image_id(image_id)
            image = read_radiograph(image_filename, max_pixels=self._max_image_pixels)
        except AppError as exc:
            # The upload sits in a temporary file; name it the way the client knows it.
            message = str(exc).replace(os.path.basename(image_filename), f"upload {image_id or 'image'}")
            raise http_error(type(exc)(message)) from None
        info = dict(image_info or {})
        info.setdefault("radiograph", {k: v for k, v in image.describe().items() if k != "path"})
        return super().add_image(image_id, image_filename, info)

    def save_label(self, image_id, label_filename, label_tag, label_info):
        """Check a label against its radiograph, remap it to canonical ids by name, and store it atomically."""
        try:
            check_image_id(image_id)
            check_name(label_tag, "label tag")  # the tag names the label's folder
            if image_id not in self._datastore.objects:
                raise BadInputError(f"image {image_id!r} is not in the datastore; upload the image first")
            check_label_pixels(label_filename, self._max_image_pixels, f"label for {image_id}")
            image = read_radiograph(self.get_image_uri(image_id), max_pixels=self._max_image_pixels)
            label, note = canonical_label_on_grid(
                label_filename, (label_info or {}).get("label_info"), image.label_geometry(), image_id
            )
        except AppError as exc:
            message = str(exc).replace(os.path.basename(label_filename), f"label for {image_id}")
            raise http_error(type(exc)(message)) from None
        folder = self._datastore.label_path(label_tag)
        staged = os.path.join(folder, f".{image_id}.incoming.nii.gz")
        write_label_map(staged, label, image.label_geometry())  # the grid Slicer reads the image on
        try:
            info = dict(label_info or {})
            info["levels_present"] = sorted(int(v) for v in set(label.ravel().tolist()) - {0})
            if note:
                logger.info(note)
                info["geometry_note"] = note
            return self._store_label_file(image_id, staged, label_tag, info)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)

    def _store_label_file(self, image_id: str, staged: str, label_tag: str, info: dict) -> str:
        folder = self._datastore.label_path(label_tag)
        with FileLock(self._lock_file):
            obj = self._datastore.objects[image_id]
            old = obj.labels.get(label_tag)
            os.replace(staged, os.path.join(folder, f"{image_id}.nii.gz"))
            if old is not None and old.ext != ".nii.gz":
                stale = os.path.join(folder, f"{image_id}{old.ext}")
                if os.path.exists(stale):
                    os.unlink(stale)
            info.update({"ts": int(time.time()), "name": f"{image_id}.nii.gz"})
            obj.labels[label_tag] = DataModel(info=info, ext=".nii.gz")
            self._write_index_atomically()
        return image_id

    def _init_from_datastore_file(self, throw_exception=False):
        """MONAI Label's index load, then every label whose tag could name a folder outside the labels folder (one
        written before tags were checked) is dropped from the index with a warning; its file stays where it is."""
        super()._init_from_datastore_file(throw_exception=throw_exception)
        for image_id, obj in self._datastore.objects.items():
            for tag in [t for t in obj.labels if not is_safe_name(t, "label tag")]:
                logger.warning("label of %s with tag %r ignored: not an allowed tag", image_id, tag[:80])
                del obj.labels[tag]

    def get_image_info(self, image_id):
        """The image's info without server paths (MONAI Label adds the file's absolute path)."""
        return _without_paths(super().get_image_info(image_id))

    def remove_label(self, label_id, label_tag):
        try:
            check_name(label_tag, "label tag")
        except AppError as exc:
            raise http_error(exc) from None
        return super().remove_label(label_id, label_tag)

    def update_image_infos(self, infos: dict[str, dict]) -> None:
        """Merge many images' info in one index write (per-image updates would rewrite the index each time)."""
        missing = sorted(set(infos) - set(self._datastore.objects))
        if missing:
            raise BadInputError(f"images {missing[:5]} (and {max(0, len(missing) - 5)} more) are not in the datastore")
        with FileLock(self._lock_file):
            for image_id, info in infos.items():
                self._datastore.objects[image_id].image.info.update(info)
            self._write_index_atomically()

    def _update_datastore_file(self, lock=True):
        if lock:
            with FileLock(self._lock_file):
                self._write_index_atomically()
        else:
            self._write_index_atomically()

    def _write_index_atomically(self) -> None:
        self._ignore_event_config = True
        text = json.dumps(self._datastore.model_dump(exclude={"base_path"}), indent=2, default=str)
        write_text_atomic(text, self._datastore_config_path)
        self._config_ts = os.stat(self._datastore_config_path).st_mtime


def canonical_label(path: str, label_info, image_shape, image_id: str, allow_empty: bool = False):
    """The label file as canonical ids, remapped by the client's segment names when it sends them, on the image's
    pixel grid index for index (its shape must be ``image_shape``); empty only when ``allow_empty``."""
    label = _remapped(path, label_info, image_id)
    return check_label_matches(label, image_shape, name=f"label for {image_id}", allow_empty=allow_empty)


def canonical_label_on_grid(path: str, label_info, image_grid: ViewerGeometry, image_id: str):
    """``(canonical label on the image's grid, note)``: as ``canonical_label``, and a label on another grid is
    resampled onto the image's by physical position, or refused when it does not lie on the image
    (``lib.io.labels.label_onto_image_grid``)."""
    name = f"label for {image_id}"
    label, note = label_onto_image_grid(_remapped(path, label_info, image_id), label_geometry(path), image_grid, name)
    return check_label_matches(label, image_grid.shape, name=name), note


def _remapped(path: str, label_info, image_id: str):
    label = read_label_map(path)
    if label_info:
        label, names, dropped = drop_findings(label, label_names_by_value(label_info))
        if dropped:
            logger.info("label for %s: finding overlays %s ignored (not anatomy)", image_id, dropped)
        label = remap_by_name(label, names)
    return label


def label_names_by_value(label_info) -> dict[int, str]:
    """Slicer sends ``[{"name": "C2", "idx": 1}, ...]``; a ``{name: value}`` dict is accepted too."""
    if isinstance(label_info, dict):
        return {int(v): str(k) for k, v in label_info.items()}
    try:
        return {int(entry["idx"]): str(entry["name"]) for entry in label_info}
    except (KeyError, TypeError, ValueError):
        raise BadInputError(
            f"label_info {str(label_info)[:200]!r} is not a list of {{'name', 'idx'}} entries or a name -> value dict"
        ) from None


def check_image_id(image_id: str | None) -> None:
    """Refuse ids that could escape the datastore folder or break file names (an empty id is MONAI Label's own)."""
    if image_id:
        check_name(image_id, "image id")


def _without_paths(info: dict) -> dict:
    """``info`` without the keys that hold a server path: a client knows an image by its id."""
    return {k: v for k, v in (info or {}).items() if k != "path"}
