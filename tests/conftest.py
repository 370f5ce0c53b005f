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


@pytest.fixture(scope="session")
def phantom_cohort(tmp_path_factory):
    """``make_cohort`` for tests: each distinct cohort is drawn once per session and copied to where a test asks
    (tests change their datastores, so each gets its own copy; drawing the same patients again only costs time)."""
    import shutil

    from apps.cli.phantom import make_cohort

    drawn = {}

    def copy_of(out, **kwargs):
        key = tuple(sorted(kwargs.items()))
        if key not in drawn:
            drawn[key] = make_cohort(tmp_path_factory.mktemp("cohorts") / "c", workers=1, **kwargs)
        return shutil.copytree(drawn[key], out)

    return copy_of
