"""A DICOMweb server that goes away mid-run: the batch worker waits and retries with a message, then goes on; one
that stays away fails the film with the reason; a refusal (4xx) is no outage and is not retried."""

from __future__ import annotations

import logging

import pytest
import requests

from apps.batch.worker import with_retry
from apps.ops.server_process import free_port

PAUSES = (0.01,)


def test_the_call_is_retried_while_the_server_is_away_then_goes_on(caplog):
    dead = f"http://127.0.0.1:{free_port()}/dicom-web"
    calls = []

    def call():
        calls.append(1)
        if len(calls) < 3:
            return requests.get(f"{dead}/studies", timeout=2)  # nobody listens: a real connection error
        return "stored"

    with caplog.at_level(logging.WARNING):
        assert with_retry(call, "store findings", dead, retry_for_s=30, pauses_s=PAUSES) == "stored"
    assert len(calls) == 3
    assert "not reachable (store findings" in caplog.text and "retrying in" in caplog.text


def test_a_server_that_stays_away_fails_the_film_with_the_reason():
    dead = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(RuntimeError, match=r"not reachable for 0 s \(retrieve\)"):
        with_retry(lambda: requests.get(f"{dead}/studies", timeout=2), "retrieve", dead, 0.05, (0.1,))


def test_a_refusal_is_not_an_outage():
    response = requests.Response()
    response.status_code = 404

    def call():
        calls.append(1)
        response.raise_for_status()

    calls = []
    with pytest.raises(requests.HTTPError):
        with_retry(call, "retrieve", "http://x", retry_for_s=30, pauses_s=PAUSES)
    assert len(calls) == 1
