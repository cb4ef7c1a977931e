"""Mixed precision and distribution strategies, checked against the Keras backend.

Example::

    with precision_scope("mixed_bfloat16"), strategy_scope("mirrored") as replicas:
        model = create_model("wrn-16-4")        # variables float32, compute bfloat16
"""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "data_parallel")
MULTI_WORKER_NOTE = (
    "tf.distribute.MultiWorkerMirroredStrategy does not work with Keras 3 model.fit "
    "(keras-team/keras#20585); for several machines use the JAX backend with "
    "keras.distribution.initialize(...) and strategy='data_parallel'")

# One MirroredStrategy per device set and process: a second one's all-reduces collide
# with the first one's (collective shape mismatch), e.g. when train() runs twice.
_MIRRORED_STRATEGIES = {}


def check_precision(precision):
    """``precision`` if it is one of :data:`PRECISIONS`, else a ValueError.

    Example: ``check_precision("mixed_bfloat16")``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


@contextlib.contextmanager
def precision_scope(precision):
    """Set the global dtype policy for building a model, restore it afterwards.

    Example: ``with precision_scope("mixed_float16"): model = create_model("resnet20")``.
    """
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_strategy(strategy, batch_size=None):
    """Validate a strategy name against the backend (and ``batch_size`` against the
    devices of ``"data_parallel"``); returns the number of data-parallel replicas, or
    None for the other strategies.

    Example: ``check_strategy("mirrored")`` on the TensorFlow backend returns None.
    """
    backend = keras.backend.backend()
    if strategy in ("multi_worker", "multi_worker_mirrored"):
        raise ValueError(f"strategy {strategy!r} is not supported: {MULTI_WORKER_NOTE}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if strategy == "mirrored" and backend != "tensorflow":
        raise ValueError(f"strategy 'mirrored' (tf.distribute.MirroredStrategy) needs "
                         f"KERAS_BACKEND=tensorflow; the backend is {backend!r}: use "
                         f"'data_parallel' there")
    if strategy == "data_parallel" and backend != "jax":
        raise ValueError(f"strategy 'data_parallel' (keras.distribution.DataParallel) needs "
                         f"KERAS_BACKEND=jax; the backend is {backend!r}: use 'mirrored' on "
                         f"TensorFlow")
    if strategy != "data_parallel":
        return None
    replicas = len(keras.distribution.list_devices())
    if batch_size is not None and batch_size % replicas:
        raise ValueError(f"batch_size must be a multiple of the {replicas} devices for "
                         f"strategy 'data_parallel'; got {batch_size}")
    return replicas


def _mirrored_strategy():
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    names = tuple(device.name for device in devices)
    if names not in _MIRRORED_STRATEGIES:
        _MIRRORED_STRATEGIES[names] = tf.distribute.MirroredStrategy(list(names))
    return _MIRRORED_STRATEGIES[names]


@contextlib.contextmanager
def strategy_scope(strategy, shard_input=True):
    """Build, compile and fit inside this: TF ``MirroredStrategy`` over the local GPUs
    (or all logical CPUs when there is no GPU), JAX ``DataParallel`` over all devices,
    or nothing for ``"default"``. Yields the number of replicas. ``shard_input=False``:
    with several processes each already feeds its part of the global batches.

    Example: ``with strategy_scope("data_parallel") as replicas: model.fit(...)``.
    """
    check_strategy(strategy)
    if strategy == "mirrored":
        mirrored = _mirrored_strategy()
        with mirrored.scope():
            yield mirrored.num_replicas_in_sync
    elif strategy == "data_parallel":
        previous = keras.distribution.distribution()
        parallel = keras.distribution.DataParallel(auto_shard_dataset=shard_input)
        keras.distribution.set_distribution(parallel)
        try:
            yield parallel.num_model_replicas
        finally:
            keras.distribution.set_distribution(previous)
    else:
        yield 1


def resolve_jit_compile(strategy, jit_compile):
    """The ``jit_compile`` to compile with under ``strategy``. XLA's all-reduce across
    logical CPU devices fails (collective shape mismatch), so a CPU-only
    MirroredStrategy runs without XLA: ``"auto"`` becomes False, True is refused.

    Example: ``resolve_jit_compile("default", "auto")`` is ``"auto"``.
    """
    if not (isinstance(jit_compile, bool) or jit_compile == "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto'; got {jit_compile!r}")
    if strategy != "mirrored" or tf.config.list_logical_devices("GPU"):
        return jit_compile
    if jit_compile is True:
        raise ValueError("jit_compile=True with strategy 'mirrored' needs GPUs: without them "
                         "the replicas are CPU devices, where XLA's all-reduce fails; use "
                         "jit_compile=False or 'auto'")
    return False
