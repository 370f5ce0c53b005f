"""The MONAI Label app for cervical cord compression on lateral radiographs, and its command line.

``monailabel start_server --app . --studies DIR`` loads ``CervicalCordApp`` from this file (MONAI Label finds it by
its direct base class). ``python main.py --help`` lists the commands; each is a thin wrapper over a ``lib`` API.
"""

from __future__ import annotations

import logging
import os
import sys

# MONAI Label puts the app directory on sys.path before loading this file; the command line needs the same.
APP_DIR = os.path.dirname(os.path.realpath(__file__))
if APP_DIR not in sys.path:
    sys.path.insert(0, APP_DIR)

from monailabel.config import settings as ml_settings  # noqa: E402
from monailabel.interfaces.app import MONAILabelApp  # noqa: E402
from monailabel.tasks.activelearning.first import First  # noqa: E402
from monailabel.tasks.activelearning.random import Random  # noqa: E402

import apps  # noqa: E402,F401  (eager: only lib/ is reloaded when MONAI Label rebuilds the app)
import infers  # noqa: E402,F401
import trainers  # noqa: E402,F401
from apps.datastore import RadiographDatastore  # noqa: E402
from apps.registry import build_models  # noqa: E402
from lib.label_io import LEVEL_LABELS  # noqa: E402
from lib.settings import parse_settings  # noqa: E402
from lib.version import APP_VERSION  # noqa: E402

logger = logging.getLogger(__name__)

# Keys MONAI Label itself reads from --conf; passed through untouched.
MONAI_LABEL_CONF_KEYS = ("server_mode",)


class CervicalCordApp(MONAILabelApp):
    """Levels, per-segment compression and the pipeline that joins them, served to Slicer and OHIF."""

    def __init__(self, app_dir, studies, conf):
        conf = dict(conf or {})
        self.settings = parse_settings({k: v for k, v in conf.items() if k not in MONAI_LABEL_CONF_KEYS})
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

    def init_datastore(self):
        if self.studies.startswith(("http://", "https://")):
            from apps.dicomweb import make_datastore

            self.studies = self.studies.rstrip("/")
            return make_datastore(self.studies, max_image_pixels=self.settings.max_image_pixels)
        return RadiographDatastore(
            self.studies,
            max_image_pixels=self.settings.max_image_pixels,
            auto_reload=ml_settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=ml_settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )

    def init_infers(self):
        return {name: task for model in self.models.values() for name, task in model.infer_tasks().items()}

    def init_trainers(self):
        if self.settings.skip_trainers:
            return {}
        return {name: task for model in self.models.values() for name, task in model.train_tasks().items()}

    def init_strategies(self):
        strategies = {"random": Random(), "first": First()}
        for model in self.models.values():
            strategies.update(model.strategies())
        return strategies

    def init_scoring_methods(self):
        methods = {}
        for model in self.models.values():
            methods.update(model.scoring_methods())
        return methods


if __name__ == "__main__":
    from apps.cli import main

    sys.exit(main(sys.argv[1:]))
