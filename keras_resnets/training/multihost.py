"""Several processes (machines) training one model: JAX data parallelism across hosts.

Every process runs the same :func:`~keras_resnets.training.train` call with the same
coordinator address and process count and its own process id; :func:`join_processes`
calls ``keras.distribution.initialize`` (``jax.distributed`` underneath; on CPUs the
collectives are jax's default, gloo) before any JAX computation. ``DataParallel`` then
spans the devices of all processes; each process feeds its part of every global batch
(:func:`process_batches`), and evaluation batches are padded to full ones whose padding
weighs 0 (:func:`padded_batches`). Process 0 writes the run directory; the others
write the same files into a private temporary directory, removed at the end.

Example (one line per machine, ``I`` = 0, 1)::

    train("wrn-16-4", dataset="cifar10", strategy="data_parallel",
          coordinator="10.0.0.1:1234", num_processes=2, process_id=I)
"""

from __future__ import annotations

import re

import keras
import numpy as np
import tensorflow as tf

from keras_resnets._checks import check_int

_ADDRESS = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:(\d{1,5})$")
_joined = None  # the (coordinator, num_processes, process_id) this process joined


def check_processes(coordinator, num_processes, process_id, strategy):
    """Validate the multi-process arguments (all three or none, ``strategy``
    ``"data_parallel"``, the JAX backend); returns the process count (1 without them).

    Example: ``check_processes("127.0.0.1:1234", 2, 0, "data_parallel")`` is 2.
    """
    from keras_resnets.training.distribution import MULTI_WORKER_NOTE

    given = [f"{name}={value!r}" for name, value in (("coordinator", coordinator), (
             "num_processes", num_processes), ("process_id", process_id)) if value is not None]
    if not given:
        return 1
    if len(given) < 3:
        raise ValueError(f"coordinator, num_processes and process_id go together (e.g. "
                         f"coordinator='10.0.0.1:1234', num_processes=2, process_id=0); "
                         f"got only {', '.join(given)}")
    if keras.backend.backend() != "jax":
        raise ValueError(f"several processes (coordinator={coordinator!r}) need "
                         f"KERAS_BACKEND=jax; the backend is {keras.backend.backend()!r}. "
                         f"{MULTI_WORKER_NOTE}")
    if not (isinstance(coordinator, str) and _ADDRESS.match(coordinator)
            and 0 < int(_ADDRESS.match(coordinator).group(1)) < 65536):
        raise ValueError(f"coordinator must be HOST:PORT of process 0 (e.g. "
                         f"'10.0.0.1:1234'); got {coordinator!r}")
    check_int("num_processes", num_processes, 1, "2, 4")
    check_int("process_id", process_id, 0, "0, 1")
    if process_id >= num_processes:
        raise ValueError(f"process_id must be in 0..{num_processes - 1} for "
                         f"num_processes={num_processes}; got {process_id}")
    if strategy != "data_parallel":
        raise ValueError(f"several processes need strategy='data_parallel'; got "
                         f"strategy={strategy!r}")
    return num_processes


def join_processes(coordinator, num_processes, process_id):
    """Connect this process to the others (``keras.distribution.initialize``); call it
    before any JAX computation. A second call with the same arguments does nothing.

    Example: ``join_processes("127.0.0.1:1234", 2, 1)``.
    """
    global _joined
    wanted = (coordinator, num_processes, process_id)
    if _joined == wanted:
        return
    if _joined is not None:
        raise ValueError(f"this process already joined coordinator={_joined[0]!r}, "
                         f"num_processes={_joined[1]}, process_id={_joined[2]}; start a new "
                         f"process for another job")
    try:
        keras.distribution.initialize(job_addresses=coordinator, num_processes=num_processes,
                                      process_id=process_id)
    except RuntimeError as error:  # e.g. JAX already computed something in this process
        raise ValueError(f"cannot join coordinator={coordinator!r}: "
                         f"{str(error).splitlines()[0]}; pass coordinator before any JAX "
                         f"computation, in a fresh process") from None
    _joined = wanted


def process_count():
    """Processes in the job: 1, unless the JAX backend joined others (by
    :func:`join_processes` or the caller's own ``keras.distribution.initialize``).
    Call it after joining: it starts JAX.

    Example: ``process_count()`` is 2 on either process of a 2-process job.
    """
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def process_index():
    """This process's id in the job (0 alone).

    Example: ``if process_index() == 0: write_report()``.
    """
    if process_count() == 1:
        return 0
    import jax

    return jax.process_index()


def barrier(name):
    """Wait until every process of the job reaches the barrier ``name`` (no-op alone).

    Example: ``barrier("run_dir_ready")``.
    """
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def gather(value):
    """The int ``value`` of every process, in process order (``[value]`` alone).

    Example: ``gather(start_epoch)`` is ``[3, 3]`` on two processes that agree.
    """
    if process_count() == 1:
        return [int(value)]
    from jax.experimental import multihost_utils

    return [int(v) for v in np.asarray(multihost_utils.process_allgather(
        np.array([value], np.int64))).ravel()]


def process_batches(dataset, batch_size, batches):
    """This process's part of every global batch of ``dataset`` (``batches`` full batches
    of ``batch_size``): process ``i`` of ``n`` gets rows ``i * batch_size / n`` onwards of
    each, so that the global batch Keras assembles is the single-process one.

    Example: ``process_batches(train_data, 128, 9)`` gives 9 batches of 64 on 2 processes.
    """
    count = process_count()
    if count == 1:
        return dataset
    import jax

    return dataset.rebatch(batch_size // count).shard(count, jax.process_index()).apply(
        tf.data.experimental.assert_cardinality(batches)).prefetch(tf.data.AUTOTUNE)


def padded_batches(dataset, batch_size, size):
    """``dataset`` (batched evaluation data, ``size`` examples) as full batches of
    ``batch_size`` with sample weights: 1 for the examples, 0 for the zero padding that
    completes the last batch, so every process gets equally many equal batches and
    weighted metrics (accuracy, cross-entropy) ignore the padding.

    Example: ``padded_batches(load_dataset("digits", "test", 128), 128, 360)``.
    """
    pad = -size % batch_size
    examples = dataset.unbatch().map(lambda x, y: (x, y, tf.ones((), tf.float32)))
    if pad:
        x_spec, y_spec, _ = examples.element_spec
        blank = (tf.zeros(x_spec.shape, x_spec.dtype), tf.zeros(y_spec.shape, y_spec.dtype),
                 tf.zeros((), tf.float32))
        examples = examples.concatenate(tf.data.Dataset.from_tensors(blank).repeat(pad))
    batches = examples.batch(batch_size, drop_remainder=True)
    return batches.apply(tf.data.experimental.assert_cardinality(
        (size + pad) // batch_size)).prefetch(tf.data.AUTOTUNE)
