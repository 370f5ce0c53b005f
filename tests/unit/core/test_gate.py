"""The gate as ASGI middleware in front of a small ASGI app that reads the whole body and echoes its size."""

import asyncio
import json

import pytest

from lib.core.gate import Gate
from lib.core.gate_rules import GatePolicy

TOKEN = "0123456789abcdef-token"


async def echo_app(scope, receive, send):
    """Reads the body like FastAPI's form parsing: an error while reading becomes a 400 answer."""
    size = 0
    try:
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        status, body = 200, json.dumps({"size": size}).encode()
    except Exception:
        status, body = 400, b'{"detail": "There was an error parsing the body"}'
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def call(policy, method="GET", path="/info/", headers=None, chunks=(b"",), client="127.0.0.1"):
    headers = {"host": "127.0.0.1:8000", **(headers or {})}
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "client": (client, 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(Gate(echo_app, policy)(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent  # exactly one answer, never the app's and the gate's
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0]["status"], dict(starts[0]["headers"]), json.loads(body)


def test_a_streamed_body_over_the_limit_is_a_413_not_the_apps_400():
    policy = GatePolicy(max_body_bytes=1000)
    assert call(policy, "POST", chunks=(b"x" * 600, b"x" * 400))[0] == 200
    status, headers, body = call(policy, "POST", chunks=(b"x" * 600, b"x" * 600))
    assert status == 413 and "max_upload_bytes" in body["detail"] and headers[b"connection"] == b"close"


def test_declared_length_over_the_limit_is_refused_before_reading():
    status, _, body = call(GatePolicy(max_body_bytes=1000), "PUT", headers={"content-length": "1001"})
    assert status == 413 and "1,001 bytes" in body["detail"]
    assert call(GatePolicy(), "PUT", headers={"content-length": "ten"})[0] == 400


def test_other_machines_are_refused_without_a_token_and_served_with_it():
    status, _, body = call(GatePolicy(), client="192.168.1.20")
    assert status == 403 and "auth_token_file" in body["detail"]
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert call(GatePolicy(token=TOKEN), client="192.168.1.20", headers=auth)[0] == 200
    assert call(GatePolicy(external_auth=True), client="192.168.1.20")[0] == 200


def test_the_token_is_needed_everywhere_but_the_docs_and_the_auth_exchange():
    policy = GatePolicy(token=TOKEN)
    status, headers, _ = call(policy)
    assert status == 401 and headers[b"www-authenticate"] == b"Bearer"
    assert call(policy, headers={"authorization": "Bearer wrong-token-000000"})[0] == 401
    assert call(policy, headers={"authorization": f"bearer {TOKEN}"})[0] == 200
    assert call(policy, path="/docs")[0] == 200
    assert call(policy, path="/auth/")[2]["enabled"] is True


def test_slicer_login_exchanges_the_token_given_as_password():
    policy = GatePolicy(token=TOKEN)
    form = {"content-type": "application/x-www-form-urlencoded"}
    status, _, body = call(policy, "POST", "/auth/token", form, (f"username=ann&password={TOKEN}".encode(),))
    assert status == 200 and body == {"access_token": TOKEN, "token_type": "bearer"}
    assert call(policy, "POST", "/auth/token", form, (b"username=ann&password=guess",))[0] == 401
    assert call(policy, path="/auth/token/valid")[0] == 401
    assert call(policy, path="/auth/token/valid", headers={"authorization": f"Bearer {TOKEN}"})[0] == 200


@pytest.mark.parametrize("headers", [{"host": "evil.example"}, {"origin": "https://evil.example"}])
def test_bad_host_or_origin_is_refused_before_the_token_is_asked(headers):
    status, headers_out, _ = call(GatePolicy(token=TOKEN), headers=headers)
    assert status in (400, 403) and not any(k.startswith(b"access-control") for k in headers_out)
