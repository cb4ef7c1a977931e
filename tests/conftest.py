"""Shared test settings: quiet TensorFlow logs, a fresh Keras session per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _share_the_cores_between_workers():
    """Give each pytest-xdist worker its share of the cores for TensorFlow's thread pools
    (inherited by the subprocesses tests start). With every worker's TensorFlow using all
    the cores, the pools spin against each other: ``pytest -n 2`` of the export and
    contract tests on 2 cores took 256-281 s that way, 237-239 s with one thread each."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ.setdefault(name, threads)


_share_the_cores_between_workers()

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
