"""Shared fixtures."""

import numpy as np
import pytest


@pytest.fixture
def ramp() -> np.ndarray:
    """A 64 x 80 12-bit ramp: value = 10 * col + row, so every pixel is known."""
    rows, cols = np.mgrid[0:64, 0:80]
    return (10 * cols + rows).astype(np.uint16)
