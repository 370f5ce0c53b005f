"""What every infer task of this app shares: it needs its weight file, and answers errors with their message.

MONAI Label calls a task valid whenever a network object is given, weights or not, which would serve a randomly
initialised network; and it turns any exception into a bare 500. This base fixes both once.
"""

from __future__ import annotations

import os

from monailabel.tasks.infer.basic_infer import BasicInferTask

from lib.core.errors import AppError, ModelNotReadyError
from lib.core.http import http_error


class WeightedInferTask(BasicInferTask):
    """A ``BasicInferTask`` that is valid only with its weight file and raises the app's errors as HTTP 4xx/503."""

    model_name = ""

    def is_valid(self) -> bool:
        return bool(self.path) and os.path.isfile(self.path[-1])

    def __call__(self, request, callbacks=None):
        if not self.is_valid():
            raise http_error(
                ModelNotReadyError(
                    f"{self.model_name} model has no weights at {self.path[-1] if self.path else '(none)'}; "
                    f"train it with POST /train/{self.model_name} or 'python main.py train {self.model_name}'"
                )
            )
        try:
            return self.finish_result(*super().__call__(request, callbacks))
        except AppError as exc:
            raise http_error(exc) from None

    def finish_result(self, path, result):
        """Last touches to the answer (subclasses); by default unchanged."""
        return path, result
