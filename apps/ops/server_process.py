"""A real MONAI Label server on this app as its own process on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from apps.paths import APP_DIR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_session(session: int) -> None:
    """SIGKILL every process of a session (``start_new_session=True`` makes the child its leader): the command
    and whatever it started, as a crash or an operator's ``kill -9`` would leave it."""
    import psutil

    for process in psutil.process_iter(["pid"]):
        try:
            if os.getsid(process.info["pid"]) == session:
                os.kill(process.info["pid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def monailabel_command(
    studies: str, port: int, conf: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> list[str]:
    """MONAI Label's own start command on this app; ``studies`` is a datastore folder or a DICOMweb URL, passed as is.

    ``python main.py serve`` execs it; ``demo-ohif`` and ``DicomwebServer`` run it as a child."""
    command = [
        sys.executable,
        "-m",
        "monailabel.main",
        "start_server",
        "--app",
        str(APP_DIR),
        "--studies",
        studies,
        "--host",
        host,
        "--port",
        str(port),
    ]
    for key, value in (conf or {}).items():
        command += ["--conf", key, value]
    return command


class LiveServer:
    """``python main.py serve`` on a datastore folder; ``url`` once ``/info/`` answers.

    ``serve`` execs the server, so ``process`` is the server itself, the leader of its own process group (with the
    task processes MONAI Label starts for scoring and training); ``stop`` sends SIGTERM to the group.

    As a context manager it waits for ``/info/`` (kept as ``info``) on entry and stops the server on exit, also when
    it never came up.
    """

    ready_timeout_s = 120.0
    # The server's token (``--conf auth_token_file``), sent while waiting for ``/info/``; None for no token.
    token: str | None = None

    def __init__(
        self,
        studies: Path,
        conf: dict[str, str] | None = None,
        log_path: Path | None = None,
        token: str | None = None,
        env: dict | None = None,
    ):
        self.token = token
        self.extra_env = dict(env or {})  # e.g. MONAI_LABEL_SESSIONS=true, TMPDIR for the server alone
        port = free_port()
        command = [sys.executable, str(APP_DIR / "main.py"), "serve", "--studies", str(studies), "--port", str(port)]
        for key, value in (conf or {}).items():
            command += ["--conf", key, value]
        self._spawn(port, command, log_path or Path(studies).parent / f"server-{port}.log", os.environ)

    def _spawn(self, port: int, command: list[str], log_path: Path, env) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = Path(log_path)
        self.info: dict | None = None
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            command,
            cwd=APP_DIR,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**env, "MONAI_LABEL_SESSIONS": "false", **getattr(self, "extra_env", {})},
            start_new_session=True,
        )

    def __enter__(self) -> "LiveServer":
        try:
            self.info = self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, timeout_s: float | None = None) -> dict:
        timeout_s = self.ready_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            try:
                request = urllib.request.Request(f"{self.url}/info/", headers=headers)
                with urllib.request.urlopen(request, timeout=5) as response:
                    return json.loads(response.read())
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"server not ready after {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text()[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        try:
            # A task MONAI Label started while shutting down (the next queued scoring method, say) missed the
            # SIGTERM and would run on with no server to report to.
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is empty: the usual case
        self._log.close()


class StartServer(LiveServer):
    """``monailabel start_server --app . --studies DIR`` itself (MONAI Label's own start, not ``main.py serve``)."""

    def __init__(
        self,
        studies: Path,
        conf: dict[str, str] | None = None,
        log_path: Path | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
    ):
        self.token = token
        port = free_port()
        command = monailabel_command(str(studies), port, conf, host=host)
        self._spawn(port, command, log_path or Path(studies).parent / f"start-server-{port}.log", os.environ)
