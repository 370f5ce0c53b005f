"""The gate's decisions: loopback, Host, Origin, endpoints off, the bearer token and the token file."""

import pytest

from lib.core.errors import BadParameterError
from lib.core.gate_rules import (
    Endpoint,
    GatePolicy,
    bearer_token,
    host_allowed,
    host_name,
    is_loopback,
    origin_allowed,
    read_token_file,
    token_matches,
    turned_off,
)

MODEL = Endpoint(frozenset({"PUT", "DELETE"}), ("model", "*"), "enable_model_upload", "weights")
LOGS = Endpoint(frozenset({"GET"}), ("logs", "**"), "enable_logs", "log")


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("[::1]", True), ("LocalHost.", True),
     ("::ffff:127.0.0.1", True), ("::ffff:10.0.0.1", False), ("0.0.0.0", False), ("192.168.1.4", False),
     ("evil.example", False), (None, False)],
)  # fmt: skip
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "header, name",
    [("[::1]:8000", "::1"), ("Example.ORG:80", "example.org"), ("localhost", "localhost"), ("fe80::1", "fe80::1")],
)
def test_host_name(header, name):
    assert host_name(header) == name


def test_hosts_allowed_are_loopback_the_arrival_address_the_bound_host_and_the_setting():
    policy = GatePolicy(bound_host="10.0.0.5", allowed_hosts=frozenset({"ws12.hospital.org"}))
    assert host_allowed("localhost:8000", "127.0.0.1", policy)
    assert host_allowed("10.0.0.5:8000", "127.0.0.1", policy)  # the bound address
    assert host_allowed("192.168.1.4:8000", "192.168.1.4", policy)  # the interface the connection came in on
    assert host_allowed("WS12.hospital.org:8000", "192.168.1.4", policy)
    assert not host_allowed("evil.example:8000", "127.0.0.1", policy)  # DNS rebinding
    assert not host_allowed(None, "127.0.0.1", policy) and not host_allowed("", "127.0.0.1", policy)
    assert not host_allowed("0.0.0.0:8000", "0.0.0.0", GatePolicy(bound_host="0.0.0.0"))


def test_origins_allowed_are_loopback_the_own_origin_and_the_setting():
    policy = GatePolicy(allowed_origins=frozenset({"https://viewer.hospital.org"}))
    assert origin_allowed("http://127.0.0.1:3000", "127.0.0.1:8000", policy)  # the app's OHIF viewer
    assert origin_allowed("http://localhost:8000", "localhost:8000", policy)
    assert origin_allowed("http://ws12:8000", "ws12:8000", policy)  # the server's own origin
    assert origin_allowed("https://Viewer.hospital.org/", "ws12:8000", policy)
    for evil in ("https://evil.example", "null", "http://127.0.0.1.evil.example", "file://", "http://ws12:9000"):
        assert not origin_allowed(evil, "ws12:8000", policy), evil


@pytest.mark.parametrize(
    "method, path, off",
    [("PUT", "/model/levels", MODEL), ("DELETE", "/model/levels/", MODEL), ("PUT", "//Model//levels", MODEL),
     ("GET", "/model/levels", None), ("PUT", "/model/info/levels", None), ("GET", "/logs", LOGS),
     ("GET", "/logs/gpu", LOGS), ("GET", "/LOGS/", LOGS), ("POST", "/logs", None), ("GET", "/logsx", None)],
)  # fmt: skip
def test_endpoints_off_match_path_variants(method, path, off):
    assert turned_off(method, path, (MODEL, LOGS)) == off


def test_bearer_token_and_comparison():
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token(None) is None and bearer_token("Bearer ") is None
    assert token_matches("s3cret-token-0123", "s3cret-token-0123")
    assert not token_matches("s3cret-token-0124", "s3cret-token-0123") and not token_matches(None, "x")


def test_token_file(tmp_path):
    good = tmp_path / "token"
    good.write_text("0123456789abcdef0123\n")
    assert read_token_file(good) == "0123456789abcdef0123"
    for text in ("short", "with a space in the middle", ""):
        (tmp_path / "bad").write_text(text)
        with pytest.raises(BadParameterError, match="no usable token"):
            read_token_file(tmp_path / "bad")
    with pytest.raises(BadParameterError, match="cannot be read"):
        read_token_file(tmp_path / "missing")
