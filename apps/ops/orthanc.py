"""Orthanc as this app's DICOMweb server: a generated loopback-only configuration, start, stop and upload.

Orthanc comes from Debian's ``orthanc`` and ``orthanc-dicomweb`` packages. Orthanc 1.10 has no option to bind
one address, so it is locked down instead: ``RemoteAccessAllowed`` false (it answers loopback clients only), no
DICOM listener, no Lua, no writes to the file system through REST, and storage in a folder the caller chooses.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from lib.core.errors import BadParameterError

logger = logging.getLogger(__name__)

ORTHANC_BINARY = "/usr/sbin/Orthanc"
# Where Debian's orthanc-dicomweb package puts the plugin (``dpkg -L orthanc-dicomweb``).
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
DEFAULT_HTTP_PORT = 8042
PID_FILE = "orthanc.pid"


def orthanc_config(folder: Path, http_port: int) -> dict:
    """The configuration: HTTP on ``http_port`` for loopback clients only, DICOMweb on, storage under ``folder``."""
    return {
        "Name": "cervical-cord-orthanc",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": int(http_port),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,
        "RestApiWriteToFileSystemEnabled": False,
        "ExecuteLuaEnabled": False,
        "HttpsVerifyPeers": True,
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
            # No "Host": the plugin then writes absolute URLs (BulkDataURI) from the request's Forwarded or Host
            # header, so a client through a proxy (apps.ops.viewer) gets its own origin, port included; a fixed
            # "127.0.0.1" gave URLs without Orthanc's port.
            "Ssl": False,
            "StudiesMetadata": "Full",
            "SeriesMetadata": "Full",
        },
    }


class Orthanc:
    """One Orthanc process whose configuration, storage, log and pid file live in ``folder``."""

    def __init__(self, folder: str | Path, http_port: int = DEFAULT_HTTP_PORT):
        self.folder = Path(folder).resolve()
        self.http_port = int(http_port)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb_url = f"{self.url}/dicom-web"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> "Orthanc":
        """Write the configuration, start Orthanc and wait until ``/system`` answers."""
        for path, what in ((ORTHANC_BINARY, "orthanc"), (DICOMWEB_PLUGIN, "orthanc-dicomweb")):
            if not os.path.exists(path):
                raise BadParameterError(f"{path} is missing; install it with 'apt-get install -y {what}'")
        if self.is_up():
            raise BadParameterError(f"port {self.http_port} already answers as Orthanc; stop it or choose another port")
        self.folder.mkdir(parents=True, exist_ok=True)
        config_path = self.folder / "orthanc.json"
        config_path.write_text(json.dumps(orthanc_config(self.folder, self.http_port), indent=2))
        log = open(self.folder / "orthanc.log", "ab")
        # Own session: stopping Orthanc never signals the caller's process group.
        self.process = subprocess.Popen(
            [ORTHANC_BINARY, str(config_path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        (self.folder / PID_FILE).write_text(str(self.process.pid))
        self.wait_ready(timeout_s)
        logger.info("Orthanc %s answers (DICOMweb at %s)", self.url, self.dicomweb_url)
        return self

    def wait_ready(self, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BadParameterError(
                    f"Orthanc exited with {self.process.returncode}; see {self.folder / 'orthanc.log'}"
                )
            try:
                return self.get("/system")
            except OSError:
                time.sleep(0.2)  # polling for the HTTP server, bounded by the deadline
        raise BadParameterError(f"Orthanc did not answer on {self.url} within {timeout_s:.0f} s")

    def is_up(self) -> bool:
        try:
            self.get("/system", timeout_s=2)
            return True
        except OSError:
            return False

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the Orthanc started here, or the one whose pid file is in ``folder``; False when none ran."""
        pid_file = self.folder / PID_FILE
        pid = self.process.pid if self.process else (int(pid_file.read_text()) if pid_file.exists() else None)
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
            return False
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        else:
            _wait_gone(pid, timeout_s)
        pid_file.unlink(missing_ok=True)
        logger.info("Orthanc on port %s stopped", self.http_port)
        return True

    def get(self, path: str, timeout_s: float = 10.0):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=timeout_s) as response:
            return json.loads(response.read())

    def series_file(self, series_uid: str, timeout_s: float = 30.0) -> bytes:
        """The Part 10 file of a series' first instance (Orthanc's own copy, found through DICOMweb)."""
        found = self.get(f"/dicom-web/instances?SeriesInstanceUID={series_uid}", timeout_s)
        sop = found[0]["00080018"]["Value"][0]
        request = urllib.request.Request(f"{self.url}/tools/lookup", data=sop.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            orthanc_id = json.loads(response.read())[0]["ID"]
        with urllib.request.urlopen(f"{self.url}/instances/{orthanc_id}/file", timeout=timeout_s) as response:
            return response.read()

    def upload_file(self, path: Path) -> dict:
        """``POST /instances`` one DICOM file; Orthanc's answer (ID, Status, ParentSeries...)."""
        request = urllib.request.Request(
            f"{self.url}/instances",
            data=Path(path).read_bytes(),
            method="POST",
            headers={"Content-Type": "application/dicom"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def upload_folder(self, folder: str | Path) -> dict[str, int]:
        """Upload every DICOM file under ``folder`` (Part 10 files, found by their preamble): counts by outcome."""
        counts = {"uploaded": 0, "already_stored": 0, "not_dicom": 0, "rejected": 0}
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_file() or not _is_dicom(path):
                counts["not_dicom"] += path.is_file()
                continue
            try:
                status = self.upload_file(path).get("Status", "")
            except urllib.error.HTTPError as exc:
                logger.warning("Orthanc rejected %s: HTTP %s", path, exc.code)
                counts["rejected"] += 1
                continue
            counts["already_stored" if status == "AlreadyStored" else "uploaded"] += 1
        logger.info("upload of %s: %s", folder, counts)
        return counts


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)  # polling for the process to exit, bounded by the deadline
    os.kill(pid, signal.SIGKILL)
