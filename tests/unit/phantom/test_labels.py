"""Labels on the fast label-only path: prevalence, correlation, grade threshold, refused parameters."""

import numpy as np
import pytest

from lib.anatomy.names import SEGMENTS
from lib.core.errors import BadParameterError
from lib.phantom import GroupSpec, PhantomConfig, cohort_config, label_record


def _labels(n=300, **options):
    config = cohort_config(patients=n, seed=11, **options)
    return np.array([[label_record(config, i)["segments"][s]["compression"] for s in SEGMENTS] for i in range(n)])


@pytest.mark.parametrize("prevalence", [0.3, 0.6])
def test_prevalence_as_configured(prevalence):
    labels = _labels(prevalence=prevalence)
    assert abs(labels.mean() - prevalence) < 0.05
    assert labels[:, SEGMENTS.index("C5/6")].mean() > labels[:, SEGMENTS.index("C2/3")].mean() + 0.15


def test_intra_patient_correlation_follows_setting():
    def mean_pair_corr(labels):
        corr = np.corrcoef(labels.T)
        return corr[np.triu_indices(5, 1)].mean()

    low = mean_pair_corr(_labels(patient_correlation=0.0))
    high = mean_pair_corr(_labels(patient_correlation=0.8))
    assert abs(low) < 0.1
    assert high > low + 0.25


def test_compression_threshold_is_configurable():
    config = cohort_config(patients=40, seed=2, compression_min_kang=3, label_noise=0.0)
    for i in range(40):
        for seg in label_record(config, i)["segments"].values():
            assert seg["compression"] == int(seg["kang"] >= 3)
            assert 0 <= seg["kang"] <= 3


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"prevalence": 1.5}, "prevalence"),
        ({"prevalence": -0.1}, "prevalence"),
        ({"centre": "mars"}, "centre"),
        ({"patients": 0}, "patients"),
        ({"patients": -5}, "patients"),
        ({"label_noise": 0.9}, "label_noise"),
    ],
)
def test_bad_parameters_are_refused_by_name(kwargs, name):
    with pytest.raises(BadParameterError, match=name):
        cohort_config(**kwargs)


def test_empty_groups_refused():
    with pytest.raises(BadParameterError, match="groups"):
        PhantomConfig(groups=())
    with pytest.raises(BadParameterError, match="segment_weights"):
        PhantomConfig(groups=(GroupSpec("train", "internal", 2),), segment_weights={"C5/6": 1.0})
