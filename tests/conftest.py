"""Shared test settings: quiet TensorFlow logs, a fresh Keras session per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.mixed_precision.set_dtype_policy("float32")
    keras.backend.clear_session()
