"""Running a MONAI Label endpoint's work in a worker thread, with its checks first and its temporary files removed.

MONAI Label 0.8.5 declares its endpoints ``async def`` and calls the app synchronously inside them, so one inference
holds the server's event loop: every other request, ``/info/`` and file downloads included, waits for it. Here the
endpoint's coroutine runs to its end in a worker thread (it awaits nothing of the server's loop), at most
``limiter`` at a time, while the loop keeps answering. The networks are borrowed per request
(``lib.models.weights.NetworkPool``), so concurrent inferences never share one.

The endpoint writes an upload to a temporary file and schedules its removal as a background task, which FastAPI runs
only after a successful answer; when the endpoint raises, those tasks are run here, so a refused upload leaves
nothing behind. Errors reach the client as 4xx with their message, with server paths taken out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
from typing import Callable, Iterable, Optional

import anyio
from fastapi import HTTPException
from fastapi.background import BackgroundTasks

from lib.core.errors import AppError
from lib.core.http import http_error
from lib.core.redact import redact_paths

logger = logging.getLogger(__name__)

Check = Callable[[dict], None]


def offloaded(
    endpoint: Callable,
    limiter: Optional[anyio.CapacityLimiter],
    checks: Iterable[Check] = (),
    roots: Callable[[], list[str]] = lambda: [],
    call: Optional[Callable] = None,
) -> Callable:
    """An ``async def`` with ``endpoint``'s signature (so FastAPI injects the same parameters) that runs ``checks``
    (which may also prepare the arguments) and then ``call`` (default: ``endpoint`` itself) with the request's
    arguments in a worker thread."""
    checks = tuple(checks)

    def work(kwargs: dict):
        for check in checks:
            check(kwargs)
        if call is not None:
            return call(**kwargs)
        return asyncio.run(endpoint(**kwargs))  # MONAI Label's coroutine awaits nothing: it runs here to its end

    @functools.wraps(endpoint)
    async def run(**kwargs):
        try:
            return await anyio.to_thread.run_sync(work, kwargs, limiter=limiter)
        except Exception as exc:
            await _clean_up(kwargs.get("background_tasks"))
            if isinstance(exc, AppError):
                exc = http_error(exc)
            if isinstance(exc, HTTPException) and isinstance(exc.detail, str):
                exc.detail = redact_paths(exc.detail, [tempfile.gettempdir(), *_safely(roots)])
                raise exc from None
            raise

    return run


async def _clean_up(tasks: Optional[BackgroundTasks]) -> None:
    """Run the removals the endpoint scheduled for after its answer, which will not come."""
    if tasks is None:
        return
    pending, tasks.tasks = list(tasks.tasks), []
    for task in pending:
        try:
            await task()
        except Exception:  # one failed removal must not hide the request's own error
            logger.exception("clean-up after a refused request failed")


def _safely(roots: Callable[[], list[str]]) -> list[str]:
    """The server's folders, or none when they cannot be told (the answer keeps its own error, never a new one)."""
    try:
        return list(roots())
    except Exception:
        logger.exception("the server's folders could not be listed for redaction")
        return []
