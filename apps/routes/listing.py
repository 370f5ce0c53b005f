"""``GET /datastore/?output=train`` without server paths.

MONAI Label answers the training list with each image's and label's absolute path on the server. A client needs
only where each file lies in the datastore, so the paths are made relative to the datastore's folder (a file
elsewhere, a DICOMweb cache, is named by its file name alone). The training tasks read ``datalist()`` directly, not
through this route, and keep their absolute paths.
"""

from __future__ import annotations

import os

from monailabel.endpoints import datastore as ml_datastore
from monailabel.interfaces.utils.app import app_instance


def datastore_listing(output=None, **_):
    answer = ml_datastore.datastore(output)
    if getattr(output, "value", output) != "train":
        return answer
    root = os.path.realpath(str(getattr(app_instance().datastore(), "_datastore_path", "") or "/nonexistent"))
    return [{key: _relative(value, root) for key, value in item.items()} for item in answer]


def _relative(value, root: str):
    if not isinstance(value, str) or not os.path.isabs(value):
        return value
    real = os.path.realpath(value)
    return os.path.relpath(real, root) if real.startswith(root + os.sep) else os.path.basename(real)
