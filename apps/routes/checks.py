"""What a request may name, checked before MONAI Label's endpoint acts on it.

MONAI Label's infer endpoint takes ``?image=`` as a datastore id *or a path* (``MONAILabelApp.infer`` reads any file
that exists), lets ``params`` overwrite the image, and answers a missing input with a 500. Here an inference reads
one of: an open session (``?session_id=``), the uploaded ``file``, or a datastore id (``?image=``); params may not
name files; every id and tag passes ``lib.core.names``. An unknown image id is a 400,
an unknown model or session a 404; none names a path.
"""

from __future__ import annotations

import json
import shutil
import tempfile

from fastapi import HTTPException
from monailabel.interfaces.utils.app import app_instance

from infers.base import ANSWER_DIR_KEY
from lib.core.errors import BadInputError
from lib.core.names import check_name

# Request keys MONAI Label or the app read as files or folders; a client sends its input as ?image=, a file or
# ?session_id=, and the answer folder is the server's own (``give_answer_folder``).
FILE_KEYS = ("image", "label", "session", ANSWER_DIR_KEY)


def parse_params(raw) -> dict:
    """The ``params`` form field as a JSON object, else ``BadInputError``."""
    if raw in (None, ""):
        return {}
    try:
        params = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise BadInputError(f"params is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(params, dict):
        raise BadInputError("params must be a JSON object")
    return params


def check_infer_request(kwargs: dict) -> None:
    """One source (datastore id, upload or session), known model, params that name no file, a safe label tag."""
    instance = app_instance()
    model = kwargs.get("model")
    infers = getattr(instance, "_infers", None)  # MONAI Label's own table of infer tasks; it answers unknown ones 500
    if infers is not None and model not in infers:
        raise HTTPException(status_code=404, detail=f"no model {str(model)[:64]!r} here; GET /info/ lists them")
    # MONAI Label's precedence, which Slicer relies on (it sends its volume's name as ?image= with a session or an
    # upload): a session, else the uploaded file, else the datastore id.
    if kwargs.get("session_id"):
        source = "session_id"
    elif kwargs.get("file") is not None or kwargs.get("wsi") is not None:
        source = "file"
    elif kwargs.get("image"):
        source = "image"
    else:
        raise BadInputError("no input: send ?image=<datastore id>, an uploaded file, or ?session_id=<id>")
    params = parse_params(kwargs.get("params"))
    named = [k for k in FILE_KEYS if k in params]
    if named:
        raise BadInputError(f"params may not set {', '.join(named)}; send the image as ?image=, a file or a session")
    if "label_tag" in params:
        check_name(params["label_tag"], "label tag")
    if source == "image":
        check_known_image(kwargs["image"])
    elif source == "session_id":
        check_known_session(kwargs["session_id"])


def give_answer_folder(kwargs: dict) -> None:
    """A temporary folder of this request's own for its answer files (``infers.base.answer_file``), removed after
    the answer is sent, or when the request fails (``apps.routes.offload`` runs the removals then)."""
    folder = tempfile.mkdtemp(prefix="answer-")
    kwargs["background_tasks"].add_task(shutil.rmtree, folder, ignore_errors=True)
    params = parse_params(kwargs.get("params"))
    params[ANSWER_DIR_KEY] = folder
    kwargs["params"] = json.dumps(params)


def check_known_image(image_id) -> None:
    check_name(image_id, "image id")
    if image_id not in set(app_instance().datastore().list_images()):
        # 400 as the app answered before these checks (the pipeline's own "not in the datastore").
        raise BadInputError(f"image {image_id!r} is not in the datastore; upload it first")


def check_known_session(session_id) -> None:
    check_name(session_id, "session id")
    sessions = app_instance().sessions()
    if sessions is None or sessions.get_session(session_id, update_ts=False) is None:
        raise HTTPException(status_code=404, detail=f"session {session_id!r} is not open; create it with PUT /session/")


def check_session_id(kwargs: dict) -> None:
    check_name(kwargs.get("session_id"), "session id")


def check_label_upload(kwargs: dict) -> None:
    """PUT /datastore/label: a safe image id and tag before the upload is copied and parsed."""
    check_name(kwargs.get("image"), "image id")
    check_name(kwargs.get("tag") or "final", "label tag")
    parse_params(kwargs.get("params"))


def check_image_upload(kwargs: dict) -> None:
    if kwargs.get("image"):
        check_name(kwargs["image"], "image id")
    parse_params(kwargs.get("params"))
