"""The app's error hierarchy.

Messages say the bad value and what is allowed. ``lib`` raises these; the MONAI Label boundary
(infer tasks, datastore) turns them into HTTP 4xx answers so clients see the message.
"""


class AppError(Exception):
    """Base of every error this app raises on purpose."""


class BadInputError(AppError):
    """Input a user supplied (a file, a label, a CSV row) that cannot be used as given."""


class BadParameterError(BadInputError):
    """A setting or command-line parameter outside its allowed range."""


class UnsupportedImageError(BadInputError):
    """A readable file that is not a 2D radiograph this app can read (3D volume, no pixels, ...)."""


class ImageTooLargeError(UnsupportedImageError):
    """An image with more pixels than the documented limit; refused before its pixels are decoded."""


class ArchiveTooLargeError(BadInputError):
    """An uploaded archive with more members or more unpacked bytes than allowed; refused before it is unpacked."""


class ModelNotReadyError(AppError):
    """A model was asked for but has no usable weights yet."""
