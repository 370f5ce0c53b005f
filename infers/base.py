"""What every infer task of this app with weights shares: it is served from its model's ``NetworkPool``.

MONAI Label's ``BasicInferTask`` keeps one cached network per device and hands the same object to every request,
which is safe only while one inference runs at a time; it calls a task valid whenever a network object is given,
weights or not; and it turns any exception into a bare 500. This base borrows a network of its own for each
request from the pool (so concurrent requests never share one), is valid only with weights, records the card of
the weights that answered, and raises the app's errors as HTTP 4xx/503 with their message.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict

import torch
from monailabel.tasks.infer.basic_infer import BasicInferTask

from lib.core.errors import AppError, ModelNotReadyError
from lib.core.http import http_error
from lib.models.weights import NetworkPool, ServedNetwork


class WeightedInferTask(BasicInferTask):
    """A ``BasicInferTask`` served from ``pool``; subclasses implement ``infer_with`` instead of ``run_inferer``."""

    model_name = ""

    def __init__(self, pool: NetworkPool, **kwargs):
        super().__init__(path=str(pool.path), network=None, **kwargs)
        self.pool = pool

    def is_valid(self) -> bool:
        return self.pool.available()

    def __call__(self, request, callbacks=None):
        if not self.is_valid():
            raise http_error(
                ModelNotReadyError(
                    f"{self.model_name} model has no weights at {self.pool.path}; "
                    f"train it with POST /train/{self.model_name} or 'python main.py train {self.model_name}'"
                )
            )
        try:
            return self.finish_result(*super().__call__(request, callbacks))
        except AppError as exc:
            raise http_error(exc) from None

    def run_inferer(self, data: Dict[str, Any], convert_to_batch=True, device="cpu"):
        """Borrow a network, note its card in ``data["model_card"]`` and run ``infer_with``."""
        with self.pool.borrow(device) as served:
            if served is None:
                raise ModelNotReadyError(f"{self.model_name} model has no weights at {self.pool.path}")
            data["model_card"] = served.card
            with torch.no_grad():
                return self.infer_with(served, data, device)

    def infer_with(self, served: ServedNetwork, data: Dict[str, Any], device: str) -> Dict[str, Any]:
        raise NotImplementedError

    def _get_network(self, device, data):
        raise NotImplementedError("networks are borrowed from the model's pool (run_inferer), not cached per task")

    def finish_result(self, path, result):
        """Last touches to the answer (subclasses); by default unchanged."""
        return path, result


# The request key naming the folder for this request's answer files. The server's infer route sets it (never the
# client) and removes the folder once the answer is sent or the request failed: MONAI Label removes an answer file
# only after a successful send, so one written before a failing step (a refused save_label) would stay.
ANSWER_DIR_KEY = "answer_dir"


def answer_file(prefix: str, folder: str | None = None) -> str:
    """A new empty ``.nrrd`` path for an infer answer's label file, in ``folder`` (the request's ``answer_dir``)
    when given, else in the temporary folder."""
    fd, path = tempfile.mkstemp(suffix=".nrrd", prefix=prefix, dir=folder or None)
    os.close(fd)
    return path
