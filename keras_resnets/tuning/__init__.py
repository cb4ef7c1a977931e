"""Budgeted Keras Tuner search over depth and width: at a fixed number of parameters
(or multiply-adds, or a measured TFLite latency), is a thin deep network or a wide
shallow one better on my data?

The search space holds only the configurations whose parameter count (the analytic
counter, exact, trainable parameters as the papers report them) lies in
``[(1 - tolerance) * budget, budget]``: no trial builds a model over budget, none is
wasted, and every Keras Tuner oracle samples only feasible points, because the space is
a single ``Choice("config", [...])`` over the feasible configurations' canonical model
names (``"wrn-16-4"``, ``"resnet56-w2"``, ``"resnext29-8x16d"``, ``"densenet-bc-100-12"``).

The modules:

* :mod:`~keras_resnets.tuning.space`: budgets and the feasible set (pure counting; no
  Keras Tuner, so ``feasible_configs`` works without it), with the monotone searches of
  :mod:`~keras_resnets.tuning.solver`; ``macs_budget=`` bounds multiply-adds too.
* :mod:`~keras_resnets.tuning.latency`: the latency budget (:class:`LatencyBudget`):
  each candidate exported to TFLite, timed in LiteRT and cached on disk.
* :mod:`~keras_resnets.tuning.hypermodel`: :class:`BudgetedHyperModel`.
* :mod:`~keras_resnets.tuning.tuner`: the oracles, :class:`BudgetedTuner`,
  :func:`make_tuner` and the chief/worker settings.
* :mod:`~keras_resnets.tuning.results`: the results table, Pareto front, figure and
  best model.
* :mod:`~keras_resnets.tuning.run`: :func:`run_search`, the whole search in one call.

Names from the last four load Keras Tuner when first used.

Example::

    feasible_configs("wrn", "1.5M")                       # list of Config, no model built
    feasible_configs("wrn", macs_budget="25M", mode="iso")  # equal multiply-adds
    result = run_search("wrn", "1.5M", dataset="digits", oracle="bayesian",
                        max_trials=20, epochs=15, directory="runs/tune")
    print(result.csv)                                      # one row per trial
    run_search("wrn", macs_budget="25M", mode="iso", max_latency_ms=0.36,
               dataset="digits", directory="runs/tune-latency")  # the slow ones untrained

    # or with your own data and the Keras Tuner objects
    hypermodel = BudgetedHyperModel("wrn", 1_500_000, mode="iso")
    tuner = make_tuner(hypermodel, "hyperband", directory="runs/tune-iso", epochs=9)
    tuner.search(train_ds, validation_data=val_ds, epochs=9)
    results_table(tuner)                                   # CSV + figure beside it
    save_best_model(tuner)                                 # best_model.keras
"""

from __future__ import annotations

from keras_resnets._lazy import lazy_names
from keras_resnets.tuning.latency import LatencyBudget, measure_configs
from keras_resnets.tuning.space import (
    FAMILIES,
    MODES,
    Config,
    SearchSpace,
    feasible_configs,
    parse_budget,
    search_space,
)

# The names that need keras-tuner (or Keras), by the module that defines them: imported
# on first use, so that sizing a search space (``keras-resnets tune --dry-run``) does not.
__getattr__, _LAZY_NAMES = lazy_names(__name__, {
    "hypermodel": ("BudgetedHyperModel", "compile_for_recipe"),
    "tuner": ("ORACLES", "BudgetedTuner", "make_tuner"),
    "results": ("RESULT_COLUMNS", "trial_results", "results_table", "format_results",
                "plot_results", "pareto_front", "save_best_model"),
    "run": ("SearchResult", "run_search"),
})

__all__ = ["FAMILIES", "MODES", "Config", "SearchSpace", "LatencyBudget", "measure_configs",
           "parse_budget", "search_space", "feasible_configs", *_LAZY_NAMES]
