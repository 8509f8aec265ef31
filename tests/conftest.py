"""Shared test set-up: quiet TensorFlow, skip markers for the shared data."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture
def shared_datasets() -> Path:
    """The ../shared/datasets folder; skips the test when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"{SHARED_DATASETS} is absent")
    return SHARED_DATASETS


def _register_hypothesis_profiles() -> None:
    """`HYPOTHESIS_PROFILE=thorough` runs many more examples than CI does."""
    from hypothesis import HealthCheck
    from hypothesis import settings

    common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
    settings.register_profile("ci", max_examples=60, **common)
    settings.register_profile("thorough", max_examples=1500, **common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_register_hypothesis_profiles()
