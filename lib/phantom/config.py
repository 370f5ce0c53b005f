"""Typed, validated settings of a phantom cohort, and the study presets (protocol, demo)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from lib.anatomy.names import SEGMENTS
from lib.core.errors import BadParameterError
from lib.phantom.centres import CENTRES

# Relative compression frequency per segment: C5/6 most often, C2/3 least (typical of degenerative myelopathy).
DEFAULT_SEGMENT_WEIGHTS: Dict[str, float] = {"C2/3": 0.35, "C3/4": 0.95, "C4/5": 1.15, "C5/6": 1.5, "C6/7": 1.05}
SPLITS = ("train", "validation", "test_internal", "test_external", "test")


@dataclass(frozen=True)
class GroupSpec:
    """A block of consecutive patients from one centre in one split."""

    split: str
    centre: str
    n_patients: int


@dataclass(frozen=True)
class PhantomConfig:
    """Everything that decides a cohort; the same config and seed give byte-identical output.

    prevalence: share of segments with compression (Kang >= ``compression_min_kang``), 0-1 exclusive.
    segment_weights: relative prevalence per segment (scaled so their mean is 1).
    patient_correlation: share of a segment's liability that is shared by the patient (age/degeneration), 0-1.
    invisible_share: mean share of canal narrowing from radiographically invisible causes (disc bulge, flavum).
    label_noise: probability that the MRI grade of a segment is read one grade off.
    """

    groups: Tuple[GroupSpec, ...]
    seed: int = 0
    prevalence: float = 0.5
    segment_weights: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SEGMENT_WEIGHTS))
    patient_correlation: float = 0.5
    compression_min_kang: int = 2
    invisible_share: float = 0.2
    label_noise: float = 0.02

    def __post_init__(self) -> None:
        _check_range("seed", self.seed, 0, 2**32 - 1)
        _check_range("prevalence", self.prevalence, 0.0, 1.0, open_ends=True)
        _check_range("patient_correlation", self.patient_correlation, 0.0, 0.95)
        _check_range("compression_min_kang", self.compression_min_kang, 1, 3)
        _check_range("invisible_share", self.invisible_share, 0.0, 0.9)
        _check_range("label_noise", self.label_noise, 0.0, 0.5)
        if not self.groups:
            raise BadParameterError("groups: a cohort needs at least one group of patients (got none)")
        for group in self.groups:
            _check_group(group)
        if set(self.segment_weights) != set(SEGMENTS):
            raise BadParameterError(
                f"segment_weights: keys must be exactly {list(SEGMENTS)}, got {sorted(self.segment_weights)}"
            )
        for name, weight in self.segment_weights.items():
            _check_range(f"segment_weights[{name}]", weight, 0.0, 10.0, open_ends=True)

    @property
    def n_patients(self) -> int:
        return sum(g.n_patients for g in self.groups)

    def segment_prevalence(self) -> Dict[str, float]:
        """Target prevalence per segment from the overall prevalence and the relative weights (clipped 0.02-0.98)."""
        mean_weight = sum(self.segment_weights.values()) / len(self.segment_weights)
        return {s: min(0.98, max(0.02, self.prevalence * w / mean_weight)) for s, w in self.segment_weights.items()}

    def group_of(self, index: int) -> GroupSpec:
        """The group of patient ``index`` (0-based over the whole cohort)."""
        if not 0 <= index < self.n_patients:
            raise BadParameterError(f"index: must be in 0..{self.n_patients - 1}, got {index}")
        for group in self.groups:
            if index < group.n_patients:
                return group
            index -= group.n_patients
        raise BadParameterError("index: outside every group")  # unreachable after the range check


def _check_range(name: str, value, low, high, open_ends: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (low < value < high) if open_ends else (low <= value <= high)
    if not ok:
        bounds = f"({low}, {high}) exclusive" if open_ends else f"[{low}, {high}]"
        raise BadParameterError(f"{name}: must be a number in {bounds}, got {value!r}")


def _check_group(group: GroupSpec) -> None:
    if group.centre not in CENTRES:
        raise BadParameterError(f"centre: unknown centre {group.centre!r}; known centres: {sorted(CENTRES)}")
    if group.split not in SPLITS:
        raise BadParameterError(f"split: unknown split {group.split!r}; allowed: {list(SPLITS)}")
    if (
        not isinstance(group.n_patients, int)
        or isinstance(group.n_patients, bool)
        or not 1 <= group.n_patients <= 100000
    ):
        raise BadParameterError(f"patients: must be an integer in [1, 100000], got {group.n_patients!r}")


def cohort_config(
    patients: int = 24,
    seed: int = 0,
    centre: str = "internal",
    prevalence: float = 0.5,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    **options,
) -> PhantomConfig:
    """A one-centre cohort split by patient into train / validation / test_<centre> (plain keyword args for CLIs).

    ``options`` are further ``PhantomConfig`` fields (patient_correlation, compression_min_kang, ...).
    """
    _check_range("patients", patients, 1, 100000)
    _check_range("validation_fraction", validation_fraction, 0.0, 0.5)
    _check_range("test_fraction", test_fraction, 0.0, 0.5)
    n_val = int(round(patients * validation_fraction))
    n_test = int(round(patients * test_fraction))
    n_train = int(patients) - n_val - n_test
    test_split = f"test_{centre}" if f"test_{centre}" in SPLITS else "test"
    sizes = (("train", n_train), ("validation", n_val), (test_split, n_test))
    groups = tuple(GroupSpec(split, centre, n) for split, n in sizes if n > 0)
    return PhantomConfig(groups=groups, seed=seed, prevalence=prevalence, **options)


def protocol_config(seed: int = 0, prevalence: float = 0.5, **options) -> PhantomConfig:
    """The study protocol: 480 train / 60 validation / 60 test from the internal centre, 60 external test patients."""
    groups = (
        GroupSpec("train", "internal", 480),
        GroupSpec("validation", "internal", 60),
        GroupSpec("test_internal", "internal", 60),
        GroupSpec("test_external", "external", 60),
    )
    return PhantomConfig(groups=groups, seed=seed, prevalence=prevalence, **options)


def demo_config(seed: int = 0, patients: Optional[int] = 24) -> PhantomConfig:
    """A small two-centre cohort for the server's demo datastore (default 24 patients)."""
    n = int(patients or 24)
    _check_range("patients", n, 4, 100000)
    n_ext = max(1, n // 6)
    n_val = max(1, n // 8)
    n_test = max(1, n // 8)
    groups = (
        GroupSpec("train", "internal", n - n_ext - n_val - n_test),
        GroupSpec("validation", "internal", n_val),
        GroupSpec("test_internal", "internal", n_test),
        GroupSpec("test_external", "external", n_ext),
    )
    return PhantomConfig(groups=groups, seed=seed)
