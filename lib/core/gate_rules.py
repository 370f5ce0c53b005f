"""The gate's decisions, as plain functions of a request's parts: which hosts, origins and peers the server answers,
which endpoints are off, whether a request carries the token. ``lib/core/gate.py`` applies them to ASGI requests.

Why each rule exists:
- peers: with no token set anyone who can reach the port could read and write the datastore, so the server then
  answers loopback clients only;
- Host: a web page whose own name resolves to 127.0.0.1 (DNS rebinding) reaches a loopback server as a same-origin
  site; it cannot choose the Host header its browser sends, which names the attacker's host;
- Origin: a page on any other site can make the user's browser post to a loopback server; browsers name that site in
  the Origin header of every cross-origin POST, PUT and DELETE and of every CORS request;
- endpoints: MONAI Label's model upload replaces the served weights with any file, its model download hands the
  weights out and its logs show paths and patient file names; Slicer and OHIF need none of them.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lib.core.errors import BadParameterError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# Addresses that bind every interface: the bound host then says nothing about which name clients use.
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class Endpoint:
    """Endpoints off unless ``setting`` is true: ``path`` segments, ``*`` for any one segment, ``**`` for any rest."""

    methods: frozenset[str]
    path: tuple[str, ...]
    setting: str
    why: str


@dataclass(frozen=True)
class GatePolicy:
    """What the gate lets through; built once from the app's settings (``apps/gate.py``)."""

    token: str | None = None
    # Another authentication stands in front (MONAI Label's own keycloak auth): the network may be served.
    external_auth: bool = False
    bound_host: str | None = None
    allowed_hosts: frozenset[str] = frozenset()
    allowed_origins: frozenset[str] = frozenset()
    off: tuple[Endpoint, ...] = ()
    max_body_bytes: int = 256 * 1024 * 1024
    # Paths answered without the token: what a browser fetches for the API documentation.
    open_paths: frozenset[str] = field(
        default_factory=lambda: frozenset({"/", "/docs", "/openapi.json", "/favicon.ico"})
    )

    @property
    def loopback_only(self) -> bool:
        return self.token is None and not self.external_auth


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine's loopback."""
    if host is None:
        return False
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d; Python 3.11 calls ::ffff:127.0.0.1 no loopback.
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def host_name(host_header: str) -> str:
    """The host part of a Host header, lower case: ``[::1]:8000`` -> ``::1``, ``Example.org:80`` -> ``example.org``."""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") > 1:  # a bare IPv6 address without a port
        return text
    return text.partition(":")[0].rstrip(".")


def host_allowed(host_header: str | None, local_address: str | None, policy: GatePolicy) -> bool:
    """Loopback names, the address the connection arrived on, the bound host and ``allowed_hosts``."""
    if not host_header:
        return False
    name = host_name(host_header)
    if is_loopback(name):
        return True
    if local_address and name == host_name(local_address) and local_address not in ANY_ADDRESS:
        # An address literal of this machine's own interface: no name an attacker could make resolve here.
        return True
    if policy.bound_host and policy.bound_host not in ANY_ADDRESS and name == host_name(policy.bound_host):
        return True
    return name in policy.allowed_hosts


def normal_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case without a trailing slash (how browsers send it and settings list it)."""
    return origin.strip().lower().rstrip("/")


def origin_allowed(origin: str, host_header: str | None, policy: GatePolicy) -> bool:
    """The server's own origin, any loopback origin (the app's OHIF viewer is served there on a port of its own),
    and ``allowed_origins``; never ``null`` (sandboxed frames, local files)."""
    text = normal_origin(origin)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if is_loopback(parts.hostname):
        return True
    if host_header and parts.netloc == host_header.strip().lower():
        return True
    return text in policy.allowed_origins


def _segments(path: str) -> tuple[str, ...]:
    # Case and repeated or trailing slashes do not change what MONAI Label's router matches closely enough to trust
    # them: the rules match the path without them, so a variant is refused rather than let through.
    return tuple(s for s in path.lower().split("/") if s)


def _matches(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    if pattern and pattern[-1] == "**":
        head = pattern[:-1]
        return len(segments) >= len(head) and _matches(head, segments[: len(head)])
    return len(pattern) == len(segments) and all(p in ("*", s) for p, s in zip(pattern, segments))


def turned_off(method: str, path: str, endpoints: tuple[Endpoint, ...]) -> Endpoint | None:
    """The first endpoint rule ``method path`` falls under, or None."""
    segments = _segments(path)
    method = method.upper()
    for endpoint in endpoints:
        if method in endpoint.methods and _matches(endpoint.path, segments):
            return endpoint
    return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (any case of the scheme), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison, so the answer's timing says nothing about how much of a guess was right."""
    return given is not None and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def read_token_file(path: str | Path) -> str:
    """The token in ``path`` (one line, surrounding whitespace dropped); refused when missing, short or spaced."""
    path = Path(path).expanduser()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadParameterError(f"setting auth_token_file={str(path)!r} cannot be read ({exc})") from None
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token) or not token.isprintable():
        raise BadParameterError(
            f"setting auth_token_file={str(path)!r} holds no usable token: one line of at least {MIN_TOKEN_CHARS} "
            "printable characters without spaces is needed (e.g. openssl rand -hex 32)"
        )
    return token
