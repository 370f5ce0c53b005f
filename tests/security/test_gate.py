"""The request gate against live servers on loopback: every attack of the security benchmark's probe table replayed
over real HTTP, MONAI Label's own client with and without the token, the served weights unchanged, and both ways of
starting the server refused on every interface without a token.

Two servers start side by side (``apps/cli/benchmarks/probing.py``): ``open`` with the defaults through
``python main.py serve``, ``token`` with a token and a 1 MiB body limit through ``monailabel start_server``.
"""

from __future__ import annotations

import numpy as np
import pytest
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException

from apps.cli.benchmarks.probing import (
    judged,
    open_bind_commands,
    probe_servers,
    refused_start,
    send_probe,
    weights_digest,
)
from apps.cli.benchmarks.security import PROBES, Probe
from tests.dicom_factory import make_dx, save


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    with probe_servers(tmp_path_factory.mktemp("gate")) as started:
        yield started


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe(servers, probe):
    answer = send_probe(servers.url(probe.server), probe, servers.token_value)
    ok, outcome = judged(probe, answer)
    assert ok, f"{probe.name}: {outcome}, status {answer.status}, headers {answer.headers}"


def test_model_upload_and_delete_leave_the_served_weights_as_they_were(servers):
    before = weights_digest(servers.model_dir)
    put, delete = (p for p in PROBES if p.path == "/model/levels" and p.method in ("PUT", "DELETE"))
    for probe in (put, delete, put):
        assert send_probe(servers.open.url, probe).status == 403
    assert weights_digest(servers.model_dir) == before
    assert (servers.model_dir / "levels.pt").is_file()


def test_an_evil_origin_gets_no_cors_allow_header_and_the_viewer_origin_does(servers):
    evil = send_probe(servers.open.url, Probe("evil", "GET", "/info/", headers=(("Origin", "https://evil.example"),)))
    viewer = send_probe(
        servers.open.url, Probe("viewer", "GET", "/info/", headers=(("Origin", "http://127.0.0.1:3000"),))
    )
    assert evil.status == 403 and not any(k.startswith("access-control") for k in evil.headers)
    assert viewer.status == 200 and viewer.headers["access-control-allow-origin"] in ("*", "http://127.0.0.1:3000")


def test_monai_label_client_needs_the_token_and_works_with_it(servers, tmp_path):
    anonymous = MONAILabelClient(servers.token.url)
    with pytest.raises(MONAILabelClientException) as caught:
        anonymous.info()
    assert "Status: 401" in caught.value.msg and "Authorization: Bearer" in caught.value.msg

    client = MONAILabelClient(servers.token.url)
    client.update_auth({"token_type": "Bearer", "access_token": servers.token_value})
    assert client.info()["name"].startswith("Cervical")
    small = save(make_dx(np.arange(64 * 80, dtype=np.uint16).reshape(64, 80)), tmp_path / "small.dcm")
    client.upload_image(str(small), image_id="small_dx")  # multipart through requests, with the same header
    assert "small_dx" in client.datastore()["objects"]


def test_slicer_login_gets_the_token_by_giving_it_as_password(servers):
    # 3D Slicer's MONAI Label module: auth_enabled, then auth_token(username, password), then update_auth.
    client = MONAILabelClient(servers.token.url)
    assert client.auth_enabled()
    with pytest.raises(MONAILabelClientException):
        client.auth_token("annotator", "a guess at the token")
    client.update_auth(client.auth_token("annotator", servers.token_value))
    assert client.auth_valid_token() and client.info()["name"].startswith("Cervical")
    assert not MONAILabelClient(servers.open.url).auth_enabled()  # no token on the open server: nothing to log in to


@pytest.mark.parametrize("start", [0, 1], ids=["main.py serve", "monailabel start_server"])
def test_binding_every_interface_without_a_token_is_refused(tmp_path, start):
    name, command = open_bind_commands(tmp_path)[start]
    status, output = refused_start(command)
    assert status not in (None, 0), f"{name}: exit {status}\n{output[-2000:]}"
    assert "refusing to serve on every interface (--host 0.0.0.0) without authentication" in output


def test_the_gate_stays_when_monai_label_rebuilds_the_app(servers):
    # POST /reload drops MONAI Label's app; the next request builds CervicalCordApp again, which installs the gate
    # again over the one already there: the rules must still hold, and the server still answer.
    assert send_probe(servers.open.url, Probe("reload", "POST", "/reload", expect=(200,), served=True)).status == 200
    assert MONAILabelClient(servers.open.url).info()["name"].startswith("Cervical")
    assert servers.open.log_tail(200_000).count("request gate:") == 2  # built twice, gated both times
    for probe in (p for p in PROBES if p.server == "open"):
        answer = send_probe(servers.open.url, probe)
        assert judged(probe, answer)[0], f"after a reload, {probe.name}: {answer.status}"
