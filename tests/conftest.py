"""Shared test helpers: where the reference data lives."""
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
