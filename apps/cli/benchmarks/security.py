"""The attacks ``python main.py benchmark security`` replays against a live server, one ``Probe`` record each.

``tests/security/test_gate.py`` replays every probe here too, so a probe added to ``PROBES`` is both a row of the
README's table and a test. ``apps/cli/benchmarks/probing.py`` starts the servers and sends the probes.

A probe names the server it is sent to (``SERVERS`` in ``probing.py``): ``open`` runs with the defaults (no token,
loopback only) through ``python main.py serve``; ``token`` runs with a token and a 1 MiB body limit through
``monailabel start_server --app .``. ``expect`` is the set of statuses that count as the attack refused (or, for a
probe with ``served=True``, as the legitimate request answered); a refusal that carries a CORS allow header counts as
not refused.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

EVIL_ORIGIN = "https://evil.example"
WRONG_TOKEN = "not-the-token-0000000000"
BOUNDARY = "gateprobe"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def multipart_file(field: str, filename: str, content: bytes) -> bytes:
    """A multipart form with one file, as MONAI Label's upload endpoints take it."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return head.encode("ascii") + content + f"\r\n--{BOUNDARY}--\r\n".encode("ascii")


# Over the default max_upload_bytes (256 MiB): announced in Content-Length, never sent.
DECLARED_OVERSIZE = 300 * 1024 * 1024
# Over the token server's 1 MiB limit: sent chunked, without a Content-Length.
STREAMED_OVERSIZE = 1024 * 1024 + 256 * 1024


@dataclass(frozen=True)
class Probe:
    """One request an attacker (or, with ``served=True``, a legitimate client) sends."""

    name: str
    method: str
    path: str
    expect: tuple[int, ...] = (403,)
    server: str = "open"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = None
    with_token: bool = False  # send ``Authorization: Bearer <the token server's token>``
    declared_length: int | None = None  # a Content-Length announced without sending the body
    chunked: bool = False  # send ``body`` chunked (Transfer-Encoding: chunked, no Content-Length)
    served: bool = False  # a legitimate request: ``expect`` is the answer it must get


PROBES: list[Probe] = [
    Probe(
        "replace the served weights (PUT /model/levels)",
        "PUT",
        "/model/levels",
        body=multipart_file("file", "levels.pt", b"these bytes would replace the served weights"),
        content_type=MULTIPART,
    ),
    Probe("remove the served weights (DELETE /model/levels)", "DELETE", "/model/levels"),
    Probe("download the weights (GET /model/levels)", "GET", "/model/levels"),
    Probe("a path variant of the upload (PUT //model/levels/)", "PUT", "//model/levels/", expect=(403, 404)),
    Probe("read the server log (GET /logs/)", "GET", "/logs/"),
    Probe("read nvidia-smi (GET /logs/gpu)", "GET", "/logs/gpu"),
    Probe("cross-site request from a web page (Origin: evil)", "GET", "/info/", headers=(("Origin", EVIL_ORIGIN),)),
    Probe(
        "cross-site preflight (OPTIONS, Origin: evil)",
        "OPTIONS",
        "/datastore/",
        headers=(("Origin", EVIL_ORIGIN), ("Access-Control-Request-Method", "PUT")),
    ),
    Probe("DNS rebinding (Host: evil.example)", "GET", "/info/", expect=(400,), headers=(("Host", "evil.example"),)),
    Probe(
        "a 300 MB upload announced in Content-Length",
        "PUT",
        "/datastore/image?image=big",
        expect=(413,),
        declared_length=DECLARED_OVERSIZE,
    ),
    Probe("no token (GET /info/)", "GET", "/info/", expect=(401,), server="token"),
    Probe("no token (GET /datastore/)", "GET", "/datastore/?output=all", expect=(401,), server="token"),
    Probe(
        "a wrong token",
        "GET",
        "/info/",
        expect=(401,),
        server="token",
        headers=(("Authorization", f"Bearer {WRONG_TOKEN}"),),
    ),
    Probe("no token for Slicer's login check (GET /auth/token/valid)", "GET", "/auth/token/valid", (401,), "token"),
    Probe(
        "a 1.25 MiB chunked upload over a 1 MiB limit",
        "PUT",
        "/datastore/image?image=big",
        expect=(413,),
        server="token",
        with_token=True,
        body=multipart_file("file", "big.dcm", b"\0" * STREAMED_OVERSIZE),
        content_type=MULTIPART,
        chunked=True,
    ),
    Probe("the token (GET /info/)", "GET", "/info/", expect=(200,), server="token", with_token=True, served=True),
    Probe(
        "download the weights where enable_model_download is on, with the token",
        "GET",
        "/model/levels",
        expect=(200,),
        server="token",
        with_token=True,
        served=True,
    ),
    Probe(
        "the machine's own name, with the token (Host: $(hostname))",
        "GET",
        "/info/",
        expect=(200,),
        server="token",
        headers=(("Host", f"{socket.gethostname()}:8000"),),
        with_token=True,
        served=True,
    ),
    Probe("auth discovery for clients (GET /auth/)", "GET", "/auth/", expect=(200,), server="token", served=True),
    Probe(
        "the app's OHIF viewer origin (Origin: http://127.0.0.1:3000)",
        "GET",
        "/info/",
        expect=(200,),
        headers=(("Origin", "http://127.0.0.1:3000"),),
        served=True,
    ),
]
