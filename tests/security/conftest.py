"""A live server for the input probes: sessions on, and its own temporary folder (TMPDIR), so that every file the
server leaves behind there can be counted exactly."""

from __future__ import annotations

import os
import time

import pytest
import requests

from apps.cli.phantom import make_cohort
from apps.ops.server_process import LiveServer


@pytest.fixture(scope="module")
def input_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    studies = make_cohort(root / "studies", patients=1, seed=5, workers=1)
    server_tmp, sessions = root / "server-tmp", root / "sessions"
    server_tmp.mkdir()
    sessions.mkdir()
    env = {"TMPDIR": str(server_tmp), "MONAI_LABEL_SESSIONS": "true", "MONAI_LABEL_SESSION_PATH": str(sessions)}
    with LiveServer(studies, conf={"skip_trainers": "true"}, env=env) as live:
        live.root, live.studies, live.server_tmp, live.session_store = root, studies, server_tmp, sessions
        live.image_id = sorted(requests.get(f"{live.url}/datastore/?output=all", timeout=30).json()["objects"])[0]
        # One inference first: torch makes its caches in TMPDIR once, on the first inference of the process.
        warm = requests.post(f"{live.url}/infer/pipeline", params={"image": live.image_id, "output": "json"})
        assert warm.status_code == 200, warm.text
        yield live


@pytest.fixture
def temp_snapshot(input_server):
    """The server's temporary folder before the test; the test asserts ``leftovers()`` is empty at its end.

    The server removes an answer's files in a background task after the answer is sent, which may still be running
    when the client has read it: ``leftovers`` gives it a few seconds before it reports what stayed."""
    before = set(os.listdir(input_server.server_tmp))

    def leftovers(grace_s: float = 10.0) -> set[str]:
        deadline = time.monotonic() + grace_s
        while True:
            left = set(os.listdir(input_server.server_tmp)) - before
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    return leftovers
