"""The request gate: a plain ASGI middleware in front of the whole server, deciding what reaches it at all.

A request is refused, in this order, when
1. it comes from another machine while no token is set (403): without a token the server is loopback-only;
2. its Host header is not a name of this server (400): DNS rebinding;
3. it carries the Origin of a web page that is not the app's (403): cross-site requests from the user's browser;
4. a token is set and the request does not carry it as ``Authorization: Bearer <token>`` (401);
5. it asks for an endpoint a setting keeps off (403): model upload, delete and download, logs;
6. its body is over the byte limit (413): from Content-Length before a byte is read, and while reading a chunked one.

Every refusal is a JSON ``{"detail": ...}`` (what MONAI Label's client prints) naming the setting that changes it,
and a warning in the server's log. A CORS preflight from an allowed origin passes after the Host and Origin checks
(browsers send it without credentials); the server's own CORS middleware answers it.

With a token set, the gate also answers MONAI Label's auth endpoints the way its clients use them: ``GET /auth/``
says auth is on, ``POST /auth/token`` (a form with ``username`` and ``password``) exchanges the token given as the
password for ``{"access_token": token, "token_type": "bearer"}``, ``GET /auth/token/valid`` checks it. This is how 3D
Slicer's MONAI Label module logs in; ``MONAILabelClient.update_auth`` takes the same record.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from lib.core.gate_rules import GatePolicy, bearer_token, host_allowed, is_loopback, origin_allowed, token_matches
from lib.core.gate_rules import turned_off as turned_off_endpoint

logger = logging.getLogger(__name__)

AUTH_PATHS = ("/auth", "/auth/token", "/auth/token/valid")
# Paths answered without the token: the auth discovery and the token exchange themselves.
TOKENLESS_AUTH_PATHS = ("/auth", "/auth/token")
MAX_AUTH_FORM_BYTES = 16 * 1024


class Refusal(Exception):
    """A request the gate answers itself: status, message and extra response headers."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class BodyTooLarge(Exception):
    """Raised from the gate's ``receive`` once a streamed body passes the limit; the gate answers 413."""


class Request:
    """The parts of an ASGI HTTP scope the gate reads."""

    def __init__(self, scope: dict):
        self.method = scope.get("method", "GET").upper()
        self.path = scope.get("path", "/")
        self.client = (scope.get("client") or (None,))[0]
        self.local = (scope.get("server") or (None,))[0]
        self.headers: dict[str, list[str]] = {}
        for name, value in scope.get("headers", []):
            self.headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def route(self) -> str:
        """The path without a trailing slash (``/auth/`` and ``/auth`` are one endpoint)."""
        return self.path.rstrip("/") or "/"

    def describe(self) -> str:
        return f"{self.method} {self.path} from {self.client or 'a local socket'}"


def check(request: Request, policy: GatePolicy) -> None:
    """Raise ``Refusal`` for a request the gate does not let through (rules 1-6 of the module's docstring)."""
    if policy.loopback_only and request.client is not None and not is_loopback(request.client):
        raise Refusal(
            403,
            f"this server answers clients on this machine only (the request came from {request.client}); "
            "to serve the network, set a token with --conf auth_token_file FILE",
        )
    hosts = request.headers.get("host", [])
    if len(hosts) != 1 or not host_allowed(hosts[0], request.local, policy):
        shown = hosts[0] if len(hosts) == 1 else f"{len(hosts)} Host headers"
        raise Refusal(
            400,
            f"Host {shown!r} is not a name of this server; add the name to --conf allowed_hosts "
            "(loopback names and the bound address are always allowed)",
        )
    origin = request.header("origin")
    if origin is not None and not origin_allowed(origin, hosts[0], policy):
        raise Refusal(
            403,
            f"requests from web pages at {origin} are refused; add the origin to --conf allowed_origins "
            "to let a viewer there use this server",
        )
    if request.method == "OPTIONS" and origin is not None and request.header("access-control-request-method"):
        return  # a CORS preflight carries no credentials; the server's CORS middleware answers it
    if policy.token is not None and not _tokenless(request, policy):
        if not token_matches(bearer_token(request.header("authorization")), policy.token):
            raise Refusal(
                401,
                "this server needs its token: send 'Authorization: Bearer <token>' (the token in the server's "
                "auth_token_file; in 3D Slicer, log in with the token as the password)",
                ((b"www-authenticate", b"Bearer"),),
            )
    endpoint = turned_off_endpoint(request.method, request.path, policy.off)
    if endpoint is not None:
        raise Refusal(
            403,
            f"{request.method} {request.path} is off on this server ({endpoint.why}); "
            f"turn it on with --conf {endpoint.setting} true",
        )
    declared = request.header("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise Refusal(400, f"Content-Length {declared!r} is not a number of bytes") from None
        if size > policy.max_body_bytes:
            raise Refusal(413, _too_large(f"{size:,} bytes", policy), ((b"connection", b"close"),))


def _tokenless(request: Request, policy: GatePolicy) -> bool:
    return request.route in TOKENLESS_AUTH_PATHS or request.path in policy.open_paths


def _too_large(what: str, policy: GatePolicy) -> str:
    return (
        f"request body of {what} is over this server's limit of {policy.max_body_bytes:,} bytes; "
        "raise it with --conf max_upload_bytes N"
    )


async def answer(send, status: int, content: dict, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps(content).encode("utf-8")
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": start + list(headers)})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """ASGI middleware: ``Gate(app, policy)``; ``policy`` may be replaced while serving (the app reloaded)."""

    def __init__(self, app, policy: GatePolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            # MONAI Label serves no websocket; one asked for is closed before it reaches anything.
            await send({"type": "websocket.close", "code": 1008})
            return
        policy = self.policy
        request = Request(scope)
        try:
            check(request, policy)
            if policy.token is not None and request.route in AUTH_PATHS:
                await self._auth(request, receive, send, policy)
                return
        except Refusal as refusal:
            logger.warning("refused %s: %s %s", request.describe(), refusal.status, refusal.message)
            await answer(send, refusal.status, {"detail": refusal.message}, refusal.headers)
            return
        await self._forward(scope, receive, send, request, policy)

    async def _forward(self, scope, receive, send, request: Request, policy: GatePolicy) -> None:
        """The app, with a ``receive`` that counts body bytes and a ``send`` silenced once the body is over."""
        received = 0
        over = False
        started = False

        async def counted_receive():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > policy.max_body_bytes:
                    over = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message):
            nonlocal started
            if over:
                return  # whatever the app makes of the interrupted body (FastAPI: a 400), the gate answers 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over:
            message = _too_large(f"more than {policy.max_body_bytes:,} bytes (streamed)", policy)
            logger.warning("refused %s: 413 %s", request.describe(), message)
            if not started:
                await answer(send, 413, {"detail": message}, ((b"connection", b"close"),))

    async def _auth(self, request: Request, receive, send, policy: GatePolicy) -> None:
        """MONAI Label's auth endpoints for the token (see the module's docstring); ``check`` has passed."""
        if request.route == "/auth" and request.method == "GET":
            await answer(send, 200, {"enabled": True, "client_id": "", "realm": "", "scheme": "bearer"})
        elif request.route == "/auth/token" and request.method == "POST":
            form = parse_qs((await _read_body(receive, MAX_AUTH_FORM_BYTES)).decode("utf-8", "replace"))
            if not token_matches((form.get("password") or [None])[0], policy.token):
                raise Refusal(
                    401, "wrong token: give the server's token as the password", ((b"www-authenticate", b"Bearer"),)
                )
            await answer(send, 200, {"access_token": policy.token, "token_type": "bearer"})
        elif request.route == "/auth/token/valid" and request.method == "GET":
            await answer(send, 200, {"username": "token", "email": None, "name": None, "roles": []})
        else:
            raise Refusal(405, f"{request.method} {request.path} is not allowed")


async def _read_body(receive, limit: int) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if len(body) > limit:
            raise Refusal(413, f"a login form of more than {limit:,} bytes", ((b"connection", b"close"),))
        if not message.get("more_body", False):
            return body
