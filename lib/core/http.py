"""The one place where the app's own errors become HTTP answers.

MONAI Label 0.8.5 turns any other exception into a bare 500 with the message lost, so every boundary
(datastore, infer tasks) raises ``fastapi.HTTPException`` built here from a ``lib.core.errors`` error.
"""

from __future__ import annotations

from fastapi import HTTPException

from lib.core.errors import (
    AppError,
    ArchiveTooLargeError,
    BadInputError,
    ImageTooLargeError,
    ModelNotReadyError,
    UnsupportedImageError,
)

_STATUS = (
    (ImageTooLargeError, 413),
    (ArchiveTooLargeError, 413),
    (UnsupportedImageError, 415),
    (BadInputError, 400),
    (ModelNotReadyError, 503),
)


def http_error(error: AppError) -> HTTPException:
    """An ``HTTPException`` whose status fits the error and whose detail is the error's message."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return HTTPException(status_code=status, detail=str(error))
    return HTTPException(status_code=400, detail=str(error))
