"""Parametric lateral cervical spine radiograph phantom with controlled ground truth.

Public API (pure python/numpy, no MONAI Label imports):
``PhantomConfig``, ``GroupSpec``, ``CENTRES``, ``CentreProfile``, ``cohort_config``, ``protocol_config``,
``demo_config``, ``generate_patient``, ``label_record``, ``write_cohort``, ``write_protocol``.
The benchmark lives in ``apps.cli.benchmarks.phantom.run_benchmark``.
"""

from lib.phantom.case import PhantomCase, generate_patient
from lib.phantom.centres import CENTRES, CentreProfile
from lib.phantom.cohort import label_record, write_cohort, write_protocol
from lib.phantom.config import GroupSpec, PhantomConfig, cohort_config, demo_config, protocol_config

__all__ = [
    "CENTRES",
    "CentreProfile",
    "GroupSpec",
    "PhantomCase",
    "PhantomConfig",
    "cohort_config",
    "demo_config",
    "generate_patient",
    "label_record",
    "protocol_config",
    "write_cohort",
    "write_protocol",
]
