"""OHIF 3.13 on its own loopback origin: the built viewer at ``/``, Orthanc's DICOMweb at ``/dicom-web`` and the
MONAI Label server at ``/monailabel``, so the viewer, its data and the app's API share one origin (no CORS).

OHIF 3.13 is installed in set-up from the npm package ``@ohif/app`` (its ``dist/`` is the built viewer) under the
git-ignored ``.cache/ohif`` (``INSTALL_COMMAND``); nothing of it is committed. OHIF's ``index.html`` uses absolute
paths and routes on the client (``/viewer``, ``/segmentation``...), so it is served at the root of the origin and
every unknown path answers ``index.html``.

``app-config.js`` is written here, not taken from the package: one DICOMweb data source on this origin, and SEGs
stored the way this app's datastore and other PACS read them best (BINARY Segmentation Storage, explicit VR little
endian, instead of OHIF 3.13's Label Map SEG with RLE Lossless).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from apps.paths import APP_DIR

logger = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per proxied request otherwise

OHIF_VERSION = "3.13.2"
OHIF_ROOT = APP_DIR / ".cache" / "ohif"
OHIF_DIST = OHIF_ROOT / "package" / "dist"
# The set-up step (README): the package's tarball from the npm registry, unpacked under .cache/ohif/package.
# ``npm install @ohif/app`` does not work: the package depends on workspace packages that are not published.
INSTALL_COMMAND = (
    f"test -f .cache/ohif/package/dist/index.html || (mkdir -p .cache/ohif && npm pack --silent "
    f"--pack-destination .cache/ohif @ohif/app@{OHIF_VERSION} && tar -xzf .cache/ohif/ohif-app-{OHIF_VERSION}.tgz "
    f"-C .cache/ohif && rm .cache/ohif/ohif-app-{OHIF_VERSION}.tgz)"
)
# BINARY Segmentation Storage (one bit-packed frame per segment): what dcmqi, highdicom, Slicer and older OHIF
# read; OHIF 3.13 defaults to Label Map Segmentation Storage (1.2.840.10008.5.1.4.1.1.66.7).
SEG_STORE_MODE = "bitmap"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"  # uncompressed: OHIF 3.13 defaults to RLE Lossless
DATA_SOURCE = "orthanc"
# Request headers that belong to one hop, never forwarded (RFC 9110 7.6.1), and those the proxy sets itself.
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
}


class ViewerNotInstalled(RuntimeError):
    """OHIF 3.13's built viewer is not under ``OHIF_DIST``: the message says how to install it."""


def check_installed(dist: Path = OHIF_DIST) -> Path:
    """``dist`` when it holds OHIF's ``index.html``; else ``ViewerNotInstalled`` with the install command."""
    dist = Path(dist)
    if not (dist / "index.html").is_file():
        raise ViewerNotInstalled(
            f"OHIF {OHIF_VERSION} is not installed at {dist}; install it from the repository root with:\n"
            f"  {INSTALL_COMMAND}"
        )
    return dist


def data_source(name: str = DATA_SOURCE) -> dict:
    """OHIF's DICOMweb data source on this origin (roots filled in by the browser from ``window.location``)."""
    return {
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": name,
        "configuration": {
            "friendlyName": "Orthanc (cervical cord app)",
            "name": name,
            "wadoUriRoot": "@ORIGIN@/dicom-web",
            "qidoRoot": "@ORIGIN@/dicom-web",
            "wadoRoot": "@ORIGIN@/dicom-web",
            "qidoSupportsIncludeField": True,
            "supportsReject": False,
            "imageRendering": "wadors",
            "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True,
            "supportsFuzzyMatching": False,
            "supportsWildcard": True,
            "dicomUploadEnabled": False,
            "omitQuotationForMultipartRequest": True,
            "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
            # The per-data-source override of the ``segmentation.store.*`` customizations (OHIF 3.13's
            # extensions/cornerstone-dicom-seg/src/utils/segmentationConfig.ts): the data source wins.
            "segmentation": {"store": {"defaultMode": SEG_STORE_MODE, "transferSyntaxUID": EXPLICIT_VR_LITTLE_ENDIAN}},
        },
    }


def app_config() -> dict:
    """OHIF's ``window.config``: one data source, the study list, no investigational-use banner."""
    return {
        "name": "cervical-cord app (OHIF 3.13 on Orthanc)",
        "routerBasename": "/",
        "extensions": [],
        "modes": [],
        # App-wide too, for paths that do not name the data source (Export -> download).
        "customizationService": {
            "segmentation.store.defaultMode": SEG_STORE_MODE,
            "segmentation.store.transferSyntaxUID": EXPLICIT_VR_LITTLE_ENDIAN,
            "ohif.tours": [],  # no guided tour over the first viewer a reader opens
        },
        "showStudyList": True,
        "maxNumberOfWebWorkers": 2,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "investigationalUseDialog": {"option": "never"},
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 10},
        "defaultDataSourceName": DATA_SOURCE,
        "dataSources": [data_source()],
    }


def app_config_js() -> str:
    body = json.dumps(app_config(), indent=2).replace('"@ORIGIN@', 'window.location.origin + "')
    header = f"/** Written by apps/ops/viewer.py: OHIF {OHIF_VERSION} on Orthanc through this origin. */"
    return f"{header}\nwindow.config = {body};\n"


def make_app(orthanc_url: str, monailabel_url: str, dist: Path = OHIF_DIST):
    """The Starlette application: ``/app-config.js``, the two proxies, then OHIF's files with the SPA fallback."""
    import httpx
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.responses import FileResponse, Response, StreamingResponse
    from starlette.routing import Route

    dist = check_installed(dist).resolve()
    index = dist / "index.html"
    upstreams = {"dicom-web": f"{orthanc_url.rstrip('/')}/dicom-web", "monailabel": monailabel_url.rstrip("/")}
    client = httpx.AsyncClient(timeout=httpx.Timeout(900.0, connect=10.0), follow_redirects=False)
    config_js = app_config_js()

    async def config(request):
        return Response(config_js, media_type="application/javascript", headers={"Cache-Control": "no-store"})

    async def proxy(request):
        prefix, _, rest = request.url.path.lstrip("/").partition("/")
        target = f"{upstreams[prefix]}/{rest}" if rest or prefix == "dicom-web" else f"{upstreams[prefix]}/"
        if request.url.query:
            target += f"?{request.url.query}"
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_HEADERS]
        if prefix == "dicom-web":
            # Orthanc's DICOMweb plugin writes absolute BulkDataURIs from the Forwarded header: this origin's.
            headers.append(("forwarded", f"host={request.url.netloc};proto={request.url.scheme}"))
        body = await request.body()
        upstream = client.build_request(request.method, target, headers=headers, content=body)
        try:
            answer = await client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            what = "Orthanc" if prefix == "dicom-web" else "the MONAI Label server"
            return Response(f"{what} at {upstreams[prefix]} is not reachable ({type(exc).__name__})", status_code=502)
        out = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in HOP_HEADERS]
        response = StreamingResponse(
            answer.aiter_raw(), status_code=answer.status_code, background=BackgroundTask(answer.aclose)
        )
        response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out]
        return response

    async def static(request):
        relative = request.path_params.get("path", "")
        candidate = (dist / relative).resolve()
        if relative and candidate.is_relative_to(dist) and candidate.is_file():
            return FileResponse(candidate)
        if request.method not in ("GET", "HEAD"):
            return Response(status_code=405)
        # Client-side routes (/viewer, /segmentation, /?...) are OHIF's: its index.html handles them.
        return FileResponse(index, headers={"Cache-Control": "no-store"})

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
    routes = [
        Route("/app-config.js", config),
        Route("/dicom-web", proxy, methods=methods),
        Route("/dicom-web/{path:path}", proxy, methods=methods),
        Route("/monailabel", proxy, methods=methods),
        Route("/monailabel/{path:path}", proxy, methods=methods),
        Route("/{path:path}", static, methods=["GET", "HEAD", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.client = client
    return app


class ViewerServer:
    """The OHIF 3.13 origin on ``127.0.0.1:port`` (a free one when 0), served by uvicorn in a background thread.

    As a context manager it starts on entry (waiting until ``/app-config.js`` answers) and stops on exit."""

    def __init__(self, orthanc_url: str, monailabel_url: str, port: int = 0, dist: Path = OHIF_DIST):
        import uvicorn

        from apps.ops.server_process import free_port

        self.port = int(port) or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = make_app(orthanc_url, monailabel_url, dist)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 30.0) -> "ViewerServer":
        import urllib.request

        self._thread = threading.Thread(target=self._server.run, name=f"ohif-viewer-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(f"the OHIF viewer server on port {self.port} stopped at start-up")
            try:
                with urllib.request.urlopen(f"{self.url}/app-config.js", timeout=2):
                    logger.info("OHIF %s at %s", OHIF_VERSION, self.url)
                    return self
            except OSError:
                time.sleep(0.1)  # polling for the listener, bounded by the deadline
        raise RuntimeError(f"the OHIF viewer server did not answer on {self.url} within {timeout_s:.0f} s")

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in the caller's thread interrupts the join)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "ViewerServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
