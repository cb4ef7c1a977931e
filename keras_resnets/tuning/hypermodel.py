"""The Keras Tuner hypermodel of a parameter, multiply-add and latency budget: one
``Choice`` over the feasible set.

Example::

    hypermodel = BudgetedHyperModel("wrn", "1.5M", mode="iso")
    hypermodel.configs[0].key                       # 'wrn-10-4.47'
    BudgetedHyperModel("wrn", macs_budget="100M", latency=LatencyBudget(0.5))
    tuner = make_tuner(hypermodel, "bayesian", directory="runs/tune", max_trials=6)
"""

from __future__ import annotations

import math

import keras
import keras_tuner

from keras_resnets import registry, training
from keras_resnets._checks import check_bool, check_positive_int
from keras_resnets.tuning.latency import LatencyBudget, measure_configs
from keras_resnets.tuning.space import Config, search_space

CONFIG_HP = "config"


def _steps_per_epoch(data, kwargs) -> int:
    """Batches per epoch of the data given to ``fit`` (the schedule's length)."""
    if kwargs.get("steps_per_epoch"):
        return int(kwargs["steps_per_epoch"])
    if hasattr(data, "cardinality"):
        steps = int(data.cardinality())
    elif isinstance(data, keras.utils.PyDataset):
        steps = len(data)
    else:
        steps = math.ceil(len(data) / (kwargs.get("batch_size") or 32))
    if steps < 1:
        raise keras_tuner.errors.FatalValueError(
            f"the training data has no known length (cardinality {steps}); pass "
            f"steps_per_epoch=... to tuner.search so that the learning-rate schedule fits it")
    return steps


def _one_hot_labels(args, kwargs) -> bool:
    """Whether the training labels are one-hot rows (label smoothing) or class ids."""
    return labels_are_one_hot(args[0] if args else kwargs.get("x"),
                              args[1] if len(args) > 1 else kwargs.get("y"))


def labels_are_one_hot(data, y=None) -> bool:
    """Whether the labels of ``data`` (a tf.data pipeline or a ``keras.utils.PyDataset``
    of ``(images, labels)`` batches; or arrays with their labels ``y``) are one-hot rows."""
    element_spec = getattr(data, "element_spec", None)
    if element_spec is not None:
        shape = element_spec[1].shape
        return shape.rank == 2 and (shape[-1] or 0) > 1
    if isinstance(data, keras.utils.PyDataset):
        y = data[0][1]
    return getattr(y, "ndim", 1) == 2 and y.shape[-1] > 1


def compile_for_recipe(model, recipe, *, epochs, steps_per_epoch, one_hot=False,
                       initial_epoch=0, jit_compile="auto", run_eagerly=False,
                       steps_per_execution=1):
    """Compile ``model`` as :func:`keras_resnets.training.train` does for ``recipe``.

    The recipe's SGD and learning-rate schedule over ``epochs`` (milestones scaled),
    coupled L2 weight decay on conv/dense kernels, and the loss and metrics of
    :func:`keras_resnets.training.compile_model`. ``initial_epoch`` starts the schedule
    there (Hyperband's later rounds); ``steps_per_execution`` steps run per host dispatch.

    Example: ``compile_for_recipe(model, "fast", epochs=15, steps_per_epoch=45)``.
    """
    recipe = training.get_recipe(recipe)
    training.apply_weight_decay(model, recipe.weight_decay)
    optimizer = recipe.optimizer(recipe.learning_rate_schedule(epochs, steps_per_epoch),
                                 steps_per_epoch)
    training.compile_model(model, optimizer, one_hot=one_hot, jit_compile=jit_compile,
                           run_eagerly=run_eagerly, steps_per_execution=steps_per_execution)
    if initial_epoch:
        optimizer.iterations.assign(initial_epoch * steps_per_epoch)
    return model


class BudgetedHyperModel(keras_tuner.HyperModel):
    """A ``keras_tuner.HyperModel`` whose space is the feasible set of a parameter and/or
    multiply-add budget, less the candidates over a latency budget.

    The space is one hyperparameter, ``Choice("config", keys)``, over the keys of
    :func:`~keras_resnets.tuning.feasible_configs` (same arguments), so every oracle
    samples only networks within ``[(1 - tolerance) * budget, budget]`` parameters (and
    ``macs_budget`` multiply-adds). With ``latency`` (a
    :class:`~keras_resnets.tuning.latency.LatencyBudget`) every feasible configuration's
    batch-1 LiteRT latency is measured first (or read from the cache) and those over
    ``latency.max_ms`` leave the space: they are never trained.
    ``build`` is ``create_model(key)``, checked against the analytic count; ``fit``
    compiles the model with the training ``recipe`` (default: the family's) and fits
    it for the epochs given to ``tuner.search``.

    Example: ``BudgetedHyperModel("wrn", 200_000, tolerance=0.9, depths=(10, 16),
    widths=(1,)).by_key`` has ``wrn-10-1`` and ``wrn-16-1``.

    Attributes:
        space: the validated :class:`~keras_resnets.tuning.space.SearchSpace`.
        configs: the feasible :class:`Config` list; ``by_key`` maps keys to them.
        builds: ``(key, trainable parameters)`` of every model this hypermodel built.
        normalization: ``(mean, std)`` the data was normalized with, or None; the best
            model is saved with it (:func:`~keras_resnets.tuning.save_best_model`), and
            the latency is measured with it inside.
        latency, measurements: the latency budget and the
            :class:`~keras_resnets.tuning.latency.Measurements` of every counted
            configuration (None without a latency budget).
    """

    def __init__(self, family, budget=None, *, macs_budget=None, tolerance=0.1, mode="grid",
                 depths=None, widths=None, cardinalities=None, input_shape=(32, 32, 3), classes=10, recipe=None,
                 spec_options=None, jit_compile="auto", run_eagerly=False, normalization=None,
                 latency=None, steps_per_execution=1, name=None):
        if not (isinstance(jit_compile, bool) or jit_compile == "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto'; got {jit_compile!r}")
        self.jit_compile = jit_compile
        if normalization is not None and (not isinstance(normalization, (tuple, list))
                                          or len(normalization) != 2):
            raise ValueError(f"normalization must be None or (mean, std) of pixels / 255, "
                             f"e.g. ((0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616)); "
                             f"got {normalization!r}")
        self.normalization = normalization
        self.run_eagerly = check_bool("run_eagerly", run_eagerly)
        self.steps_per_execution = check_positive_int("steps_per_execution",
                                                      steps_per_execution, "1, 8")
        self.space = search_space(
            family, budget, macs_budget=macs_budget, tolerance=tolerance, mode=mode, depths=depths, widths=widths,
            cardinalities=cardinalities, input_shape=input_shape, classes=classes,
            spec_options=spec_options)
        self.configs = self.space.configs()
        self.latency, self.measurements = latency, None
        if latency is not None:
            self._apply_latency_budget(latency)
        self.recipe = training.get_recipe(self.space.axes.recipe if recipe is None
                                          else recipe).name
        self.by_key = {c.key: c for c in self.configs}
        self.builds = []
        super().__init__(name=name or f"budgeted-{self.family}", tunable=True)

    @property
    def family(self) -> str:
        return self.space.family

    def _apply_latency_budget(self, latency):
        if not isinstance(latency, LatencyBudget):
            raise ValueError(f"latency must be a LatencyBudget (e.g. LatencyBudget(max_ms=0.5, "
                             f"threads=1)) or None; got {latency!r}")
        space = self.space
        self.measurements = measure_configs(self.configs, latency,
                                            input_shape=space.input_shape,
                                            classes=space.classes,
                                            normalization=self.normalization)
        times = self.measurements.latencies
        within = [c for c in self.configs if times[c.key].median_ms <= latency.max_ms]
        if not within:
            fastest = min(self.configs, key=lambda c: times[c.key].median_ms)
            raise ValueError(
                f"max_latency_ms {latency.max_ms:g} admits none of the {len(self.configs)} "
                f"configurations within {space.describe()}: the fastest, {fastest.key}, takes "
                f"{times[fastest.key].text()} ({latency.quantization}, {latency.threads} "
                f"thread(s)); raise max_latency_ms (--max-latency-ms) or lower the budget")
        self.configs = within

    def definition(self) -> dict:
        """What identifies this search space (stored in the search directory)."""
        space = self.space
        return {"family": space.family, "budget": space.budget,
                "macs_budget": space.macs_budget, "tolerance": space.tolerance,
                "mode": space.mode, "depths": list(space.depths),
                "widths": None if space.widths is None else list(space.widths),
                "cardinalities": None if space.cardinalities is None
                else list(space.cardinalities),
                "input_shape": list(space.input_shape), "classes": space.classes,
                "spec_options": dict(space.options), "recipe": self.recipe,
                **(self.latency.settings() if self.latency else {}),
                "configs": [c.as_dict() for c in self.configs]}

    def declare_hyperparameters(self, hp):
        hp.Choice(CONFIG_HP, [c.key for c in self.configs], ordered=False)

    def config_for(self, hp) -> Config:
        """The configuration that ``hp`` chose."""
        key = hp.Choice(CONFIG_HP, [c.key for c in self.configs], ordered=False)
        if key not in self.by_key:
            raise keras_tuner.errors.FatalValueError(
                f"configuration {key!r} is not in this search's feasible set; the search "
                f"directory belongs to another search")
        return self.by_key[key]

    def build(self, hp):
        config = self.config_for(hp)
        space = self.space
        if not space.admits(config):  # cannot happen: the set is feasible
            raise keras_tuner.errors.FatalValueError(
                f"{config.key} ({config.params:,} parameters, {config.macs:,} multiply-adds) "
                f"is not {' and '.join(band.text() for band in space.bands)}")
        model = registry.create_model(config.key, input_shape=space.input_shape,
                                      classes=space.classes, **dict(config.options))
        built = int(sum(math.prod(w.shape) for w in model.trainable_weights))
        self.builds.append((config.key, built))
        if built != config.params:
            raise keras_tuner.errors.FatalValueError(
                f"{config.key}: the built model has {built:,} trainable parameters but the "
                f"analytic count says {config.params:,}; please report this bug")
        return model

    def fit(self, hp, model, *args, epochs=1, initial_weights=None, **kwargs):
        """Compile for the recipe and fit; ``initial_weights`` (Hyperband's later rounds)
        continue an earlier trial's model."""
        data = args[0] if args else kwargs.get("x")
        compile_for_recipe(model, self.recipe, epochs=epochs,
                           steps_per_epoch=_steps_per_epoch(data, kwargs),
                           one_hot=_one_hot_labels(args, kwargs),
                           initial_epoch=kwargs.get("initial_epoch", 0),
                           jit_compile=self.jit_compile, run_eagerly=self.run_eagerly,
                           steps_per_execution=self.steps_per_execution)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        if hasattr(data, "element_spec") or isinstance(data, keras.utils.PyDataset):
            kwargs.setdefault("shuffle", False)  # the pipeline shuffles itself
        return model.fit(*args, epochs=epochs, **kwargs)
