"""The server's datastore sees what a task process (scoring, training) writes into the index, which this app
replaces by a rename: MONAI Label's auto-reload watches only for in-place modifications."""

from __future__ import annotations

import shutil
import time

from apps.datastores.local import RadiographDatastore
from tests.dicom_factory import pydicom_data_file

PIXELS = 50_000_000


def _wait_for(check, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s  # the file watcher's thread reloads the index a moment after the write
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def test_an_index_another_process_replaced_is_reloaded(tmp_path):
    studies = tmp_path / "studies"
    studies.mkdir()
    shutil.copyfile(pydicom_data_file("RG1_UNCR.dcm"), studies / "chest.dcm")
    server = RadiographDatastore(str(studies), max_image_pixels=PIXELS, auto_reload=True)
    try:
        task = RadiographDatastore(str(studies), max_image_pixels=PIXELS, auto_reload=False)  # a task process's
        task.update_image_info("chest", {"levels_uncertainty": 0.25})
        assert _wait_for(lambda: server.get_image_info("chest").get("levels_uncertainty") == 0.25)
        server.update_image_info("chest", {"levels_dice": {"C2": 1.0}})  # its own write: kept, and both on disk
        assert server.get_image_info("chest")["levels_uncertainty"] == 0.25
        reread = RadiographDatastore(str(studies), max_image_pixels=PIXELS, auto_reload=False, read_only=True)
        assert reread.get_image_info("chest")["levels_dice"] == {"C2": 1.0}
    finally:
        server._observer.stop()
        server._observer.join()
