"""``python main.py benchmark security``: live servers on loopback, every probe of ``security.PROBES`` sent to them
over real HTTP, and the start-up refusals, as one markdown table (the README's Security section).

The servers serve a copy of the shipped weights, so an upload that got through could not touch ``model/``; the
copy's sha256 is compared before and after the probes.
"""

from __future__ import annotations

import hashlib
import http.client
import secrets
import shutil
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from apps.cli.benchmarks.security import PROBES, Probe
from apps.ops.server_process import LiveServer, StartServer, free_port
from apps.paths import APP_DIR

STREAM_CHUNK = 64 * 1024
TOKEN_SERVER_LIMIT = 1024 * 1024
# Both servers serve the levels model only and no trainers: the probes need a running app, not every model.
LIGHT = {"models": "levels", "skip_trainers": "true"}


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the connection closed without an answer
    headers: dict[str, str]


@dataclass(frozen=True)
class Servers:
    open: LiveServer
    token: LiveServer
    token_value: str
    model_dir: Path

    def url(self, name: str) -> str:
        return getattr(self, name).url


def copy_weights(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in (APP_DIR / "model").iterdir():
        if path.suffix in (".pt", ".json"):
            shutil.copy2(path, folder / path.name)
    return folder


def weights_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).iterdir()) if p.is_file()}


@contextmanager
def probe_servers(folder: Path) -> Iterator[Servers]:
    """The ``open`` server (defaults, ``main.py serve``) and the ``token`` server (a token, a 1 MiB body limit, model
    download on, ``monailabel start_server``), started side by side; stopped on exit."""
    folder = Path(folder)
    model_dir = copy_weights(folder / "model")
    token = secrets.token_hex(24)
    token_file = folder / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    for name in ("open", "token"):
        (folder / f"studies-{name}").mkdir(parents=True, exist_ok=True)
    conf = {**LIGHT, "model_dir": str(model_dir)}
    open_server = LiveServer(folder / "studies-open", conf=conf, log_path=folder / "open.log")
    token_conf = {
        **conf,
        "auth_token_file": str(token_file),
        "max_upload_bytes": str(TOKEN_SERVER_LIMIT),
        "enable_model_download": "true",
    }
    with ExitStack() as stack:
        stack.callback(open_server.stop)
        token_server = StartServer(folder / "studies-token", token_conf, folder / "token.log", token=token)
        stack.callback(token_server.stop)
        open_server.info = open_server.wait_ready()
        token_server.info = token_server.wait_ready()
        yield Servers(open_server, token_server, token, model_dir)


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), STREAM_CHUNK):
        yield body[start : start + STREAM_CHUNK]


def send_probe(url: str, probe: Probe, token: str | None = None) -> Answer:
    """One probe over a fresh loopback connection, as the probe describes it."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = dict(probe.headers)
    if probe.with_token:
        headers["Authorization"] = f"Bearer {token}"
    if probe.content_type:
        headers["Content-Type"] = probe.content_type
    try:
        try:
            if probe.declared_length is not None:
                connection.putrequest(probe.method, probe.path, skip_host="Host" in headers)
                for key, value in headers.items():
                    connection.putheader(key, value)
                connection.putheader("Content-Length", str(probe.declared_length))
                connection.endheaders()
            elif probe.chunked:
                connection.request(probe.method, probe.path, body=_chunks(probe.body), headers=headers)
            else:
                connection.request(probe.method, probe.path, body=probe.body or None, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while the body was still going out: read what it said
        try:
            response = connection.getresponse()
            response.read()
        except (http.client.HTTPException, ConnectionError):
            return Answer(None, {})
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()


def judged(probe: Probe, answer: Answer) -> tuple[bool, str]:
    """(as expected, outcome): a refusal must also carry no CORS allow header."""
    cors = "access-control-allow-origin" in answer.headers
    ok = answer.status in probe.expect and (probe.served or not cors)
    if probe.served:
        return ok, "served" if ok else "NOT SERVED"
    return ok, ("refused" if ok else "NOT REFUSED") + (" (with a CORS allow header)" if cors else "")


def refused_start(command: list[str], timeout_s: float = 120.0) -> tuple[int | None, str]:
    """(exit status, output) of a server start that must refuse; None when it was still running at the timeout."""
    try:
        done = subprocess.run(command, cwd=APP_DIR, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, done.stdout + done.stderr


def open_bind_commands(studies: Path) -> list[tuple[str, list[str]]]:
    """Both ways of starting the server on every interface, without a token."""
    from apps.ops.server_process import monailabel_command

    serve = [sys.executable, str(APP_DIR / "main.py"), "serve", "--host", "0.0.0.0", "--studies", str(studies)]
    start = monailabel_command(str(studies), free_port(), LIGHT, host="0.0.0.0")
    return [
        ("bind every interface without a token (main.py serve --host 0.0.0.0)", serve + ["--port", str(free_port())]),
        ("bind every interface without a token (monailabel start_server --host 0.0.0.0)", start),
    ]


def _input_probe_rows(folder: Path) -> list[tuple]:
    """The handlers' input probes (``security_inputs.INPUT_PROBES``) on a server with sessions on and one film."""
    import requests

    from apps.cli.benchmarks.security_inputs import INPUT_PROBES
    from apps.cli.benchmarks.security_inputs import send_probe as send_input_probe
    from apps.cli.phantom import make_cohort

    studies = make_cohort(folder / "studies", patients=1, seed=5, workers=1)
    (folder / "sessions").mkdir(exist_ok=True)
    env = {"MONAI_LABEL_SESSIONS": "true", "MONAI_LABEL_SESSION_PATH": str(folder / "sessions")}
    rows = []
    with LiveServer(studies, conf={**LIGHT, "models": "all"}, log_path=folder / "inputs.log", env=env) as live:
        image = sorted(requests.get(f"{live.url}/datastore/?output=all", timeout=30).json()["objects"])[0]
        for probe in INPUT_PROBES:
            row = send_input_probe(live.url, probe, image)
            outcome = "refused" if row["ok"] else f"EXPECTED {row['expect']}"
            rows.append((row["name"], "inputs", str(row["status"]), outcome, row["ok"]))
    return rows


def run_security_benchmark(folder: Path) -> dict:
    rows = []
    with probe_servers(folder) as servers:
        before = weights_digest(servers.model_dir)
        for probe in PROBES:
            answer = send_probe(servers.url(probe.server), probe, servers.token_value)
            ok, outcome = judged(probe, answer)
            rows.append((probe.name, probe.server, str(answer.status or "closed"), outcome, ok))
        unchanged = weights_digest(servers.model_dir) == before
        rows.append(("the served weights after every probe", "both", "sha256", "unchanged" if unchanged else "CHANGED"))
        rows[-1] += (unchanged,)
    rows += _input_probe_rows(folder / "inputs")
    (folder / "studies-bind").mkdir(exist_ok=True)
    for name, command in open_bind_commands(folder / "studies-bind"):
        status, output = refused_start(command)
        ok = status not in (None, 0) and "without authentication" in output
        rows.append((name, "-", f"exit {status}", "refused" if ok else "NOT REFUSED", ok))
    table = ["| attack | server | answer | outcome |", "|---|---|---|---|"]
    table += [f"| {name} | {server} | {answer} | {outcome} |" for name, server, answer, outcome, _ in rows]
    print("\n".join(table))
    failures = [name for name, *_, ok in rows if not ok]
    return {"probes": len(rows), "as_expected": len(rows) - len(failures), "failures": failures}
