"""Shared fixtures."""

import numpy as np
import pytest
import torch


@pytest.fixture
def ramp() -> np.ndarray:
    """A 64 x 80 12-bit ramp: value = 10 * col + row, so every pixel is known."""
    rows, cols = np.mgrid[0:64, 0:80]
    return (10 * cols + rows).astype(np.uint16)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small convolutions: extra threads only contend with other work (modules opt in with ``pytestmark``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
