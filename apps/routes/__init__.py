"""MONAI Label's own routes, replaced in place in its FastAPI app by checked, off-the-loop versions.

Installed from ``CervicalCordApp.on_init_complete``: MONAI Label calls it in the server process, from the
FastAPI app's start-up, after every route exists and before the first request. Both ways of starting the server
(``python main.py serve`` execs ``monailabel start_server --app .``) build the same ``monailabel.app:app``, so the
replacement applies to both; no MONAI Label file is patched. Each route keeps its path, method, parameters and
answers, so Slicer, OHIF and ``MONAILabelClient`` see the same API:

- ``POST /infer/{model}`` (and the whole-slide variants): exactly one input, a datastore id, an upload or an open
  session; no path from a request is read (``apps.routes.checks``);
- ``PUT /session/``: archives unpacked safely and bounded (``apps.routes.sessions``);
- ``PUT /datastore/image``, ``PUT /datastore/label``: ids and tags checked before the upload is parsed;
- ``GET /datastore/?output=train``: paths relative to the datastore (``apps.routes.listing``);
- all of these, training and scoring starts and next-sample run in worker threads (``apps.routes.offload``), so
  ``/info/`` and downloads answer during inference; a refused upload's temporary copy is removed.
"""

from __future__ import annotations

import functools
import logging
import sys

import anyio
from fastapi.routing import APIRoute
from monailabel.config import settings as ml_settings
from monailabel.interfaces.utils.app import app_instance

from apps.routes import checks
from apps.routes.listing import datastore_listing
from apps.routes.offload import offloaded
from apps.routes.sessions import create_session

logger = logging.getLogger(__name__)

_INSTALLED = "_cervical_cord_offloaded"
_MONAI = "monailabel.endpoints."


def install_routes(instance) -> int:
    """Replace MONAI Label's routes listed above in its running FastAPI app; returns how many were replaced (0
    outside a server process, where there is no FastAPI app: a scoring or training task process, the CLI)."""
    server = sys.modules.get("monailabel.app")
    if server is None:
        return 0
    plan = _plan(instance)
    replaced = _replace(server.app.router, plan)
    logger.info("%d MONAI Label routes replaced by checked, off-the-loop versions", replaced)
    return replaced


def _plan(instance) -> dict[tuple[str, str], dict]:
    """``{(MONAI Label endpoint module, function): how to run it}``: routes are found by their endpoint function,
    which stays the same whatever path prefix the server mounts them under."""
    heavy = anyio.CapacityLimiter(max(instance.settings.worker_threads, ml_settings.MONAI_LABEL_INFER_CONCURRENCY))
    session_call = functools.partial(
        create_session, instance.settings.session_max_files, instance.settings.session_max_bytes
    )
    infer = {"limiter": heavy, "checks": [checks.check_infer_request, checks.give_answer_folder]}
    light = {"limiter": None}  # anyio's default pool: quick starts of background tasks, never behind inferences
    session_id = {"limiter": None, "checks": [checks.check_session_id]}
    return {
        ("infer", "api_run_inference"): infer,
        ("wsi_infer", "api_run_wsi_inference"): infer,
        ("wsi_infer", "api_run_wsi_v2_inference"): infer,
        ("datastore", "api_datastore"): {"limiter": None, "call": datastore_listing},
        ("datastore", "api_add_image"): {"limiter": heavy, "checks": [checks.check_image_upload]},
        ("datastore", "api_save_label"): {"limiter": heavy, "checks": [checks.check_label_upload]},
        ("session", "api_create_session"): {"limiter": heavy, "call": session_call},
        ("session", "api_get_session"): session_id,
        ("session", "api_remove_session"): session_id,
        ("train", "api_run"): light,
        ("train", "api_run_model"): light,
        ("scoring", "api_run"): light,
        ("scoring", "api_run_method"): light,
        ("batch_infer", "api_run"): light,
        ("activelearning", "api_sample"): light,
    }


def _replace(router, plan: dict) -> int:
    """Swap matching routes in ``router`` and the routers it includes (FastAPI may keep an included router's own
    route list rather than copies), telling each router whose list changed."""
    routes = router.routes
    replaced = 0
    for index, route in enumerate(list(routes)):
        included = getattr(route, "original_router", None)
        if included is not None:
            replaced += _replace(included, plan)
            continue
        if not isinstance(route, APIRoute) or getattr(route.endpoint, _INSTALLED, False):
            continue
        module = getattr(route.endpoint, "__module__", "")
        how = plan.get((module.rpartition(".")[2], route.endpoint.__name__)) if module.startswith(_MONAI) else None
        if how is None:
            continue
        endpoint = offloaded(route.endpoint, roots=_server_roots, **how)
        setattr(endpoint, _INSTALLED, True)
        routes[index] = APIRoute(
            route.path,
            endpoint,
            methods=sorted(route.methods),
            name=route.name,
            summary=route.summary,
            tags=route.tags,
            responses=route.responses,
            response_class=route.response_class,
            include_in_schema=route.include_in_schema,
            deprecated=route.deprecated,
            dependencies=route.dependencies,
        )
        replaced += 1
    if replaced and hasattr(router, "_mark_routes_changed"):
        router._mark_routes_changed()  # FastAPI caches each included router's effective routes by this version
    return replaced


def _server_roots() -> list[str]:
    """Folders whose paths never reach a client: the datastore, the app, its models, the session store."""
    instance = app_instance()
    datastore = instance.datastore()
    sessions = instance.sessions()
    roots = [
        str(getattr(datastore, "_datastore_path", "") or ""),
        str(getattr(instance, "app_dir", "") or ""),
        str(getattr(instance, "studies", "") or ""),
        str(getattr(instance.settings, "model_dir", "") or ""),
        str(getattr(sessions, "store_path", "") or ""),
    ]
    # A DICOMweb datastore's URL is no server path: "the DICOMweb server <url> is not reachable" must name it.
    return [r for r in roots if not r.startswith(("http://", "https://"))]
