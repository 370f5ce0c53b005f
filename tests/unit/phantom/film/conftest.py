import pytest

from lib.phantom import cohort_config
from lib.phantom.film import generate_film_patient


@pytest.fixture(scope="session")
def film_config():
    return cohort_config(patients=8, seed=3, validation_fraction=0, test_fraction=0)


@pytest.fixture(scope="session")
def film_cases(film_config):
    """Three rendered films (a few seconds in all): both facings among them."""
    return [generate_film_patient(film_config, i) for i in range(3)]
