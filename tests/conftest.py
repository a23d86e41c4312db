"""Shared test helpers: where the reference data lives, and the potential the MD tests run."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir():
    """``$FASTPOT_SHARED_DATA`` or ``../shared/data`` beside the repository (may not exist)."""
    return Path(os.environ.get("FASTPOT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data():
    """Path to the shared reference data; skips the test, saying why, when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"reference data not found at {path} (set FASTPOT_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def copper():
    """A small potential fitted to EMT copper: smooth, realistic forces (the MD tests)."""
    from fastpot.emt_data import emt_samples
    from fastpot.training import Trainer
    samples = emt_samples(40, element="Cu", size=2, seed=0)
    options = dict(cutoff=4.5, n_shifted=4, n_centred=2, n_angular_eta=1, zetas=[1.0, 4.0],
                   hidden_layers=[10, 10], max_iterations=150, valid_fraction=0.1)
    return Trainer(options, log=None).fit(samples)
