import pytest

from lib.phantom import cohort_config, generate_patient


@pytest.fixture(scope="session")
def cases():
    """Two rendered patients per centre (about a second in all)."""
    out = []
    for centre in ("internal", "external"):
        config = cohort_config(patients=2, seed=7, centre=centre, validation_fraction=0, test_fraction=0)
        out.extend(generate_patient(config, i) for i in range(2))
    return out
