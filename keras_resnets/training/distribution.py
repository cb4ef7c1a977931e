"""Mixed precision and distribution strategies, checked against the Keras backend.

Example::

    with precision_scope("mixed_bfloat16"), strategy_scope("mirrored") as replicas:
        model = create_model("wrn-16-4")        # variables float32, compute bfloat16
"""

from __future__ import annotations

import contextlib
import warnings

import keras
import tensorflow as tf

from keras_resnets._checks import check_positive_int

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


def mirrored_replicas():
    """The replicas ``strategy="mirrored"`` trains on: the local GPUs, or all logical CPUs.

    Example: ``mirrored_replicas()`` is 2 after :func:`use_logical_cpus` ``(2)``.
    """
    return _mirrored_strategy().num_replicas_in_sync


def use_logical_cpus(count):
    """Split the CPU into ``count`` logical devices (TensorFlow), so that
    ``strategy="mirrored"`` runs ``count`` replicas on a machine without GPUs: a way to
    try a multi-device run. Call it before TensorFlow uses any device.

    Example: ``use_logical_cpus(2); train("resnet20", strategy="mirrored")``.
    """
    check_positive_int("cpu devices", count, "2, 4")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:  # "Virtual devices cannot be modified after ..."
        raise ValueError(f"cannot split the CPU into {count} devices: TensorFlow has already "
                         f"started using its devices in this process ({error})") from None


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
        if mirrored.num_replicas_in_sync == 1:
            warnings.warn("strategy 'mirrored' found one device (no GPU, one logical CPU): "
                          "it trains on 1 replica; split the CPU with use_logical_cpus(2) "
                          "(keras-resnets train --cpu-devices 2) to try several", stacklevel=3)
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


def global_batch_count(size, batch_size, replicas=1):
    """How many global batches :func:`replica_batches` makes of ``size`` examples: the
    last partial batch is kept, and joins the one before when it has fewer examples than
    there are replicas (each replica must get at least one).

    Example: ``global_batch_count(1257, 32, 2)`` is 40 (39 full batches and 9 examples).
    """
    batches = -(-size // batch_size)
    if batches > 1 and 0 < size % batch_size < replicas:
        batches -= 1
    return batches


def replica_batches(dataset, size, batch_size, *, gradient_weights=False):
    """``dataset`` (``size`` examples in global batches of ``batch_size``, the last one
    partial) distributed over the replicas of the current ``tf.distribute`` strategy so
    that every example is used exactly once and no replica gets an empty batch.

    ``tf.distribute`` itself fills the replicas in order at ``batch_size / replicas``, so a
    partial last batch leaves the last replicas empty, and on CPUs oneDNN's Conv2D returns
    a wrong shape for an empty batch (the crash of MirroredStrategy on two logical CPUs).
    Here each global batch of ``n`` examples is cut into near-equal contiguous slices,
    replica ``r`` taking ``[r * n // R, (r + 1) * n // R)``; a last batch smaller than
    ``R`` joins the one before (:func:`global_batch_count`). Keras averages each replica's
    loss over its slice and sums the replicas' gradients divided by ``R``, which is the
    global mean only for equal slices: ``gradient_weights=True`` adds the sample weight
    ``R * n_r / n`` (1 in a full batch of equal slices) that makes the sum the mean over
    the ``n`` examples, as on one device. Without a strategy ``dataset`` is returned as it is.

    Example::

        with strategy_scope("mirrored"):
            data = replica_batches(load_dataset("digits", "train", 32), 1257, 32,
                                   gradient_weights=True)
    """
    strategy = tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return dataset
    if size < replicas:
        raise ValueError(f"a split of {size} examples cannot feed {replicas} replicas: every "
                         f"replica needs at least one example; use fewer devices")
    batches = global_batch_count(size, batch_size, replicas)
    if batches < -(-size // batch_size):  # the last two batches become one
        sizes = [batch_size] * (batches - 1) + [size - (batches - 1) * batch_size]
        dataset = dataset.rebatch(tf.constant(sizes, tf.int64))

    def slices(*batch):
        n = tf.shape(batch[0], out_type=tf.int64)[0]

        def replica_slice(r):
            start, stop = r * n // replicas, (r + 1) * n // replicas
            part = tuple(t[start:stop] for t in batch)
            if not gradient_weights:
                return part
            weight = tf.cast(replicas * (stop - start), tf.float32) / tf.cast(n, tf.float32)
            return (*part, tf.fill([stop - start], weight))

        return tf.data.Dataset.range(replicas).map(replica_slice)

    per_replica = dataset.flat_map(slices).prefetch(tf.data.AUTOTUNE)  # of unknown length:
    # a known one would count each replica's slice as a step
    return strategy.distribute_datasets_from_function(lambda context: per_replica)


class SynchronizedBatchNorm(keras.callbacks.Callback):
    """BatchNormalization statistics of the whole global batch while ``fit`` trains on
    several replicas (Keras's ``synchronized=True``: sums all-reduced across replicas),
    so that a mirrored step computes what one device computes. It is switched on as each
    epoch begins (before Keras traces the training step) and off as it ends, so that the
    models saved by later callbacks keep ``synchronized=False`` and load on any backend.
    Put it first in the callbacks.

    Example: ``model.fit(data, callbacks=[SynchronizedBatchNorm(), RunBackup(run_dir)])``.
    """

    def _switch(self, on):
        for layer in _batch_norm_layers(self.model):
            layer.synchronized = on

    def on_epoch_begin(self, epoch, logs=None):
        self._switch(True)

    def on_epoch_end(self, epoch, logs=None):
        self._switch(False)

    def on_train_end(self, logs=None):
        self._switch(False)


def _batch_norm_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            yield layer
        elif isinstance(layer, keras.Model):
            yield from _batch_norm_layers(layer)
