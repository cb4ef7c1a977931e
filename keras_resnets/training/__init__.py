"""Training recipes of the papers, and runs that write everything down and survive a kill.

* :mod:`~keras_resnets.training.recipes`: the :class:`TrainingRecipe` table (optimizer,
  schedule, weight decay, batch size, length, augmentation), coupled L2 weight decay
  and :func:`compile_model`.
* :mod:`~keras_resnets.training.distribution`: mixed precision and the ``mirrored``
  (TensorFlow) and ``data_parallel`` (JAX) strategies.
* :mod:`~keras_resnets.training.multihost`: ``data_parallel`` across processes
  (machines): ``train(..., coordinator=..., num_processes=..., process_id=...)``.
* :mod:`~keras_resnets.training.rundir`: the run directory (``config.json``,
  ``history.csv``/``history.json``, ``curves.png``, ``last.keras``, ``best.keras``,
  ``metrics.json``), locked while a run uses it.
* :mod:`~keras_resnets.training.backup`: the ``backup/`` that lets a rerun of the same
  call resume at the last completed epoch, bit for bit.
* :mod:`~keras_resnets.training.callbacks`: the user's Keras callbacks and TensorBoard
  event files (``train(..., callbacks=[...], tensorboard=True)``).
* :mod:`~keras_resnets.training.augmentation`: the ``modern`` recipe's batch
  augmentation from Keras's layers (MixUp, CutMix, RandAugment, RandomErasing).
* :mod:`~keras_resnets.training.trainer`: :func:`train`, which ties them together.

The training ``loss`` includes the L2 penalty; ``xent`` is the cross-entropy alone.

Example::

    result = train("wrn-16-4", dataset="cifar10", recipe="wrn", run_dir="runs/wrn-16-4")
    result = train("wrn-10-2", dataset="digits", recipe="fast", epochs=10)
    get_recipe("wrn").learning_rates(epochs=200, steps_per_epoch=391)
"""

from keras_resnets._lazy import lazy_names
from keras_resnets.training.recipes import (
    DECAYED_KERNELS,
    RECIPES,
    SCHEDULES,
    TrainingRecipe,
    apply_weight_decay,
    compile_model,
    get_recipe,
    list_recipes,
)

# The names whose modules need TensorFlow (tf.distribute, tf.data, summaries), imported on
# first use: the recipes, and a search on arrays (keras_resnets.tuning), run without it.
__getattr__, _LAZY_NAMES = lazy_names(__name__, {
    "distribution": ("MULTI_WORKER_NOTE", "PRECISIONS", "STRATEGIES", "check_precision",
                     "check_strategy", "precision_scope", "resolve_jit_compile",
                     "strategy_scope", "use_logical_cpus"),
    "rundir": ("RunRecorder", "environment_record", "history_csv", "plot_curves"),
    "trainer": ("TrainResult", "train"),
})

__all__ = ["DECAYED_KERNELS", "RECIPES", "SCHEDULES", "TrainingRecipe", "apply_weight_decay",
           "compile_model", "get_recipe", "list_recipes", *_LAZY_NAMES]
