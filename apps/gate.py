"""The request gate (``lib/core/gate.py``) installed in front of MONAI Label's FastAPI application.

``CervicalCordApp.__init__`` calls ``install_gate``, so the gate is there however the server was started
(``python main.py serve`` or ``monailabel start_server --app .``). MONAI Label creates the app inside its
server's lifespan start-up, before uvicorn opens the port, so no request is answered without it.

Starlette refuses ``add_middleware`` once the application has started, and it has by then: the first ASGI call
(the lifespan) built ``middleware_stack``. Starlette calls ``middleware_stack`` for every later request, so the
gate wraps it: the gate runs first, outside MONAI Label's error handler and CORS middleware, and a refused
request never reaches them (no CORS header is ever added to a refusal).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from lib.core.errors import BadParameterError
from lib.core.gate import Gate
from lib.core.gate_rules import ANY_ADDRESS, Endpoint, GatePolicy, is_loopback, read_token_file
from lib.core.settings import Settings

logger = logging.getLogger(__name__)

# MONAI Label's endpoints that Slicer and OHIF do not need, each off unless its setting is on.
OFF_BY_DEFAULT = (
    Endpoint(
        frozenset({"PUT", "DELETE"}),
        ("model", "*"),
        "enable_model_upload",
        "it replaces or removes the served model's weights",
    ),
    Endpoint(frozenset({"GET", "HEAD"}), ("model", "*"), "enable_model_download", "it hands out the model's weights"),
    Endpoint(
        frozenset({"GET", "HEAD"}), ("logs", "**"), "enable_logs", "the log shows file paths, image ids and settings"
    ),
)
# ``monailabel start_server``'s own default when --host is not given.
MONAI_LABEL_DEFAULT_HOST = "0.0.0.0"


def policy_from(settings: Settings, bound_host: str | None, external_auth: bool = False) -> GatePolicy:
    """The gate's policy from the app's settings; ``bound_host`` is None when the start command is not known."""
    token = read_token_file(settings.auth_token_file) if settings.auth_token_file else None
    if token is not None and external_auth:
        raise BadParameterError(
            "auth_token_file and MONAI_LABEL_AUTH_ENABLE are both set: use one authentication, not both"
        )
    off = tuple(e for e in OFF_BY_DEFAULT if not getattr(settings, e.setting))
    return GatePolicy(
        token=token,
        external_auth=external_auth,
        bound_host=bound_host,
        # The machine's own name (no DNS look-up: the server never reaches the network at start-up) is no name an
        # attacker's page could carry.
        allowed_hosts=frozenset({*settings.allowed_hosts, socket.gethostname().lower()}),
        allowed_origins=frozenset(settings.allowed_origins),
        off=off,
        max_body_bytes=settings.max_upload_bytes,
    )


def refuse_open_network(host: str | None, policy: GatePolicy) -> None:
    """A server bound beyond loopback with no authentication does not start: anyone on the network could use it."""
    if host is None or is_loopback(host) or not policy.loopback_only:
        return
    shown = "every interface" if host in ANY_ADDRESS else host
    raise BadParameterError(
        f"refusing to serve on {shown} (--host {host}) without authentication: anyone on the network could read "
        "and change the datastore. Bind to 127.0.0.1 (--host 127.0.0.1), or set a token with "
        "--conf auth_token_file FILE (see the README's Security section)"
    )


def start_server_host(argv: list[str]) -> str | None:
    """The address ``monailabel start_server`` binds, from its command line; None for any other start."""
    if "start_server" not in argv:
        return None
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-i", "--host", default=MONAI_LABEL_DEFAULT_HOST)
    known, _ = parser.parse_known_args(argv[argv.index("start_server") + 1 :])
    return known.host


def install_gate(settings: Settings, argv: list[str] | None = None) -> Gate | None:
    """Put the gate in front of MONAI Label's server in this process; None when this process runs no server."""
    from monailabel.config import settings as ml_settings

    server = sys.modules.get("monailabel.app")
    if server is None:
        return None  # a task process (scoring, training), the command line or a test: nothing to guard
    host = start_server_host(sys.argv if argv is None else argv)
    policy = policy_from(settings, host, external_auth=ml_settings.MONAI_LABEL_AUTH_ENABLE)
    refuse_open_network(host, policy)
    fastapi_app = server.app
    stack = fastapi_app.middleware_stack
    if isinstance(stack, Gate):  # the app was rebuilt (POST /reload): the settings may have changed
        gate = stack
        gate.policy = policy
    else:
        if stack is None:  # not started yet (no ASGI call so far): build it as Starlette would
            stack = fastapi_app.build_middleware_stack()
        gate = Gate(stack, policy)
        fastapi_app.middleware_stack = gate
    logger.info(
        "request gate: %s, off: %s, body limit %s bytes",
        "token required" if policy.token else "loopback clients only, no token",
        ", ".join(e.setting for e in policy.off) or "nothing",
        f"{policy.max_body_bytes:,}",
    )
    return gate
