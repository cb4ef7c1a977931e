"""Shared test settings: quiet TensorFlow logs, a fresh Keras session per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.mixed_precision.set_dtype_policy("float32")
    # Python's own collector frees the models in time: a forced gc.collect() after every
    # test (clear_session's default) cost 0.46 s per test, 5 minutes of a CI run.
    keras.backend.clear_session(free_memory=False)


def pytest_collection_modifyitems(items):
    """The README-as-written test (minutes, a user's whole path) starts first: run last, it
    kept one worker busy alone for its whole length at the end of a CI run."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] != "tests/test_readme.py")
