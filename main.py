"""The MONAI Label app for cervical cord compression on lateral radiographs, and its command line.

``monailabel start_server --app . --studies DIR --host 127.0.0.1`` loads ``CervicalCordApp`` from this file (MONAI
Label finds it by its direct base class); without a token, any other host is refused (``apps/gate.py``).
``python main.py --help`` lists the commands; each is a thin wrapper over a ``lib`` API.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # The command line, before the imports below: a command imports what it needs when it runs, so ``serve``, which
    # hands its process over to the server, starts light.
    from apps.cli.main import main

    sys.exit(main(sys.argv[1:]))

import logging
import os

# No sys.path patching: MONAI Label puts the app folder on sys.path before loading this file, and
# ``python main.py`` puts the script's folder there itself.
from monailabel.config import settings as ml_settings
from monailabel.interfaces.app import MONAILabelApp
from monailabel.tasks.activelearning.first import First
from monailabel.tasks.activelearning.random import Random

# Eager: only lib/ is reloaded when MONAI Label rebuilds the app.
import apps  # noqa: F401
import infers  # noqa: F401
import trainers  # noqa: F401
from apps.datastores.local import RadiographDatastore
from apps.gate import install_gate
from apps.models.registry import build_models
from apps.routes import install_routes
from lib.anatomy.names import LEVEL_LABELS
from lib.core.settings import parse_settings
from lib.core.version import APP_VERSION

logger = logging.getLogger(__name__)

# Keys MONAI Label itself reads from --conf; passed through untouched.
MONAI_LABEL_CONF_KEYS = ("server_mode",)
# Added to the niceness of the process MONAI Label starts for one scoring task, so that inference requests the
# server answers meanwhile keep their CPU.
SCORING_NICENESS = 10
# How MONAI Label runs a background task (scoring, training): ``python -m`` this module, one task per process.
MONAI_LABEL_TASK_RUNNER = "monailabel.interfaces.utils.app"


class CervicalCordApp(MONAILabelApp):
    """Levels, per-segment compression and the pipeline that joins them, served to Slicer and OHIF."""

    def __init__(self, app_dir, studies, conf):
        conf = dict(conf or {})
        self.settings = parse_settings({k: v for k, v in conf.items() if k not in MONAI_LABEL_CONF_KEYS})
        # First: the request gate (apps/gate.py) in front of MONAI Label's server, however it was started; it
        # refuses to serve beyond loopback without a token, before anything else is loaded.
        install_gate(self.settings)
        # MLflow tracking stays off unless asked for: it writes runs under the app and slows training.
        ml_settings.MONAI_LABEL_TRACKING_ENABLED = self.settings.tracking
        self.models = build_models(self.settings, app_dir)
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="Cervical cord compression (lateral radiograph)",
            description="C2-C7 levels, per-segment cord compression with Grad-CAM, and radiographic measurements",
            version=APP_VERSION,
            labels=dict(LEVEL_LABELS),
        )
        # MONAI Label scores with every method at start-up and after each next sample and training, when its own
        # MONAI_LABEL_AUTO_UPDATE_SCORING (default on) says so. Here only with --conf auto_scoring true: the levels
        # uncertainty (MC dropout on every unlabelled image) would take a core from the first requests otherwise.
        # POST /scoring/<method> scores whenever asked.
        self._auto_update_scoring = self.settings.auto_scoring and ml_settings.MONAI_LABEL_AUTO_UPDATE_SCORING

    def on_init_complete(self):
        # The server process, its routes built and no request served yet: MONAI Label's routes get their checked,
        # off-the-loop versions here, for both start paths (apps/routes/__init__.py says why and which).
        install_routes(self)
        super().on_init_complete()

    def init_datastore(self):
        if self.studies.startswith(("http://", "https://")):
            from apps.datastores.dicomweb import make_datastore

            self.studies = self.studies.rstrip("/")
            return make_datastore(self.studies, max_image_pixels=self.settings.max_image_pixels)
        return RadiographDatastore(
            self.studies,
            max_image_pixels=self.settings.max_image_pixels,
            auto_reload=ml_settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=ml_settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )

    def init_infers(self):
        return {name: task for model in self.models.values() for name, task in model.infer().items()}

    def init_trainers(self):
        if self.settings.skip_trainers:
            return {}
        tasks = {name: model.trainer() for name, model in self.models.items()}
        return {name: task for name, task in tasks.items() if task is not None}

    def init_strategies(self):
        strategies = {"random": Random(), "first": First()}
        for model in self.models.values():
            strategies.update(model.strategy())
        return strategies

    def init_scoring_methods(self):
        methods = {}
        for model in self.models.values():
            methods.update(model.scoring_method())
        return methods

    def scoring(self, request, datastore=None):
        # In the process MONAI Label starts for this one task, scoring yields the CPU to the server's requests. Not
        # in the server (``?run_sync=true`` scores in a request thread): niceness is per process.
        if in_monailabel_task_process():
            os.nice(SCORING_NICENESS)
        return super().scoring(request, datastore)


def in_monailabel_task_process() -> bool:
    """Whether this process is one MONAI Label started for a background task (``python -m`` its task runner)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == MONAI_LABEL_TASK_RUNNER
