"""The papers' training recipes, their learning-rate schedules, weight decay and compile.

A :class:`TrainingRecipe` is a paper's optimizer, schedule, weight decay, batch size,
length and augmentation. Weight decay is coupled L2, as in the papers' SGD (Torch's
``optim.sgd``, the TensorFlow reference codes): ``wd * w`` is added to the gradient of
every conv and dense kernel before momentum, by giving those kernels an L2 penalty
``0.5 * wd * ||w||^2``. BatchNorm parameters and biases are not decayed.

Example::

    get_recipe("wrn").learning_rates(epochs=200, steps_per_epoch=391)
    apply_weight_decay(model, get_recipe("wrn").weight_decay)
"""

from __future__ import annotations

import dataclasses
import math

import keras

from keras_resnets._checks import is_number
from keras_resnets.arrays import PAD_MODES
from keras_resnets.layers import ExampleCount

SCHEDULES = ("step", "cosine")
# Dense keeps its variable in ``_kernel`` (``kernel`` is a property that may add LoRA).
DECAYED_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")  # variable names


@dataclasses.dataclass(frozen=True)
class TrainingRecipe:
    """A paper's training recipe. The run lasts ``epochs`` epochs, or ``steps``
    iterations when set (He et al. count iterations); ``milestones`` are in that same
    unit and scale proportionally when a run is given another length, and the linear
    warm-up lasts ``warmup_fraction`` of the run, whatever its length.

    Example: ``dataclasses.replace(get_recipe("wrn"), name="wrn-short", epochs=20,
    milestones=(6, 12, 16))``.
    """

    name: str
    summary: str
    reference: str
    learning_rate: float
    batch_size: int
    epochs: int | None = None
    steps: int | None = None
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    schedule: str = "step"
    milestones: tuple = ()
    decay_factor: float = 0.1
    warmup_fraction: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = True
    pad_mode: str = "constant"
    cutout: int = 0
    # The modern (timm-style) options, made of Keras's own layers and optimizers, off at 0:
    # keras.layers.MixUp(alpha) / CutMix (its Beta alpha), one of them per batch when both
    # are on; keras.layers.RandAugment (2 ops, its factor) and RandomErasing (probability);
    # the optimizer's use_ema with this momentum, the weights replaced by their average at
    # the end of every epoch (what is validated and saved).
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    rand_augment: float = 0.0
    random_erasing: float = 0.0
    ema_momentum: float = 0.0

    def __post_init__(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError(f"TrainingRecipe {self.name!r} needs exactly one of epochs "
                             f"(e.g. 200) or steps (e.g. 64000); got epochs={self.epochs!r}, "
                             f"steps={self.steps!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainingRecipe schedule must be one of {', '.join(SCHEDULES)}; "
                             f"got {self.schedule!r}")
        if not is_number(self.warmup_fraction) or not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"TrainingRecipe warmup_fraction must be in [0, 1) (e.g. 0.0, "
                             f"0.0667: 2 epochs of 30); got {self.warmup_fraction!r}")
        for name, rule, example in (
                ("mixup_alpha", ">= 0", "0.2"), ("cutmix_alpha", ">= 0", "1.0"),
                ("rand_augment", "in [0, 1]", "0.5"), ("random_erasing", "in [0, 1]", "0.25"),
                ("ema_momentum", "in [0, 1)", "0.99")):
            value = getattr(self, name)
            upper = {">= 0": math.inf, "in [0, 1]": 1.0}.get(rule, 1.0 - 1e-12)
            if not is_number(value) or not 0 <= value <= upper:
                raise ValueError(f"TrainingRecipe {name} must be a number {rule} (0 = off, "
                                 f"e.g. {example}); got {value!r}")
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"TrainingRecipe pad_mode must be one of "
                             f"{', '.join(PAD_MODES)}; got {self.pad_mode!r}")

    def default_epochs(self, steps_per_epoch):
        """The paper's length in epochs (iterations rounded up to whole epochs).

        Example: ``get_recipe("resnet-cifar").default_epochs(391)`` is 164.
        """
        if self.epochs is not None:
            return self.epochs
        return math.ceil(self.steps / steps_per_epoch)

    def boundaries(self, epochs, steps_per_epoch, explicit_epochs=True):
        """Iterations at which the step schedule multiplies the rate by ``decay_factor``:
        each milestone is the first iteration run at the lower rate.

        Example: ``get_recipe("wrn").boundaries(20, 10)`` is ``[60, 120, 160]``.
        """
        if self.epochs is not None:
            scale = epochs * steps_per_epoch / self.epochs
        else:
            scale = epochs * steps_per_epoch / self.steps if explicit_epochs else 1.0
        return [int(round(m * scale)) for m in self.milestones]

    def learning_rate_schedule(self, epochs, steps_per_epoch, *, learning_rate=None,
                               explicit_epochs=True):
        """A Keras ``LearningRateSchedule`` over ``epochs * steps_per_epoch`` iterations.

        Example: ``get_recipe("fast").learning_rate_schedule(30, 391)(0)``.
        """
        peak = self.learning_rate if learning_rate is None else learning_rate
        total = epochs * steps_per_epoch
        if self.schedule == "cosine":
            warmup = min(int(round(self.warmup_fraction * total)), total - 1)
            return keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=peak / max(warmup, 1) if warmup else peak,
                decay_steps=total - warmup, alpha=0.0,
                warmup_target=peak if warmup else None, warmup_steps=warmup)
        bounds = self.boundaries(epochs, steps_per_epoch, explicit_epochs)
        values = [peak * self.decay_factor ** i for i in range(len(bounds) + 1)]
        # Keras switches after ``step > boundary``; ours are first steps at the new rate.
        return keras.optimizers.schedules.PiecewiseConstantDecay([b - 1 for b in bounds], values)

    def learning_rates(self, epochs, steps_per_epoch, steps=None, **kwargs):
        """The rate at the given iterations (default: the first of every epoch).

        Example: ``get_recipe("wrn").learning_rates(20, 10, [0, 60])`` is ``[0.1, 0.02]``.
        """
        schedule = self.learning_rate_schedule(epochs, steps_per_epoch, **kwargs)
        steps = range(0, epochs * steps_per_epoch, steps_per_epoch) if steps is None else steps
        return [float(keras.ops.convert_to_numpy(schedule(s))) for s in steps]

    @property
    def mixes_labels(self):
        """MixUp or CutMix is on: the labels are one-hot rows, mixed."""
        return bool(self.mixup_alpha or self.cutmix_alpha)

    def optimizer(self, schedule, steps_per_epoch=None):
        """The recipe's SGD (momentum, Nesterov or not) following ``schedule``; with
        ``ema_momentum``, Keras's ``use_ema``, the weights replaced by their moving average
        every ``steps_per_epoch`` steps (needed then).

        Example: ``recipe.optimizer(recipe.learning_rate_schedule(30, 391), 391)``.
        """
        ema = {}
        if self.ema_momentum:
            if not steps_per_epoch:
                raise ValueError(f"recipe {self.name!r} averages the weights (ema_momentum "
                                 f"{self.ema_momentum:g}): optimizer() needs steps_per_epoch "
                                 f"(e.g. 391); got {steps_per_epoch!r}")
            ema = dict(use_ema=True, ema_momentum=self.ema_momentum,
                       ema_overwrite_frequency=int(steps_per_epoch))
        return keras.optimizers.SGD(learning_rate=schedule, momentum=self.momentum,
                                    nesterov=self.nesterov, **ema)


RECIPES = {r.name: r for r in (
    TrainingRecipe(
        name="wrn", summary="Wide ResNet: SGD Nesterov 0.9, lr 0.1 x0.2 at epochs 60/120/160 "
        "of 200, weight decay 5e-4, batch 128, reflect-pad crop and flip",
        reference="Zagoruyko & Komodakis, Wide Residual Networks, BMVC 2016, sec. 4",
        learning_rate=0.1, batch_size=128, epochs=200, weight_decay=5e-4,
        milestones=(60, 120, 160), decay_factor=0.2, pad_mode="reflect"),
    TrainingRecipe(
        name="resnet-cifar", summary="ResNet on CIFAR: SGD momentum 0.9, lr 0.1 /10 at 32k "
        "and 48k iterations, stop at 64k, weight decay 1e-4, batch 128, pad-crop and flip",
        reference="He et al., Deep Residual Learning for Image Recognition, CVPR 2016, sec. 4.2",
        learning_rate=0.1, batch_size=128, steps=64_000, nesterov=False, weight_decay=1e-4,
        milestones=(32_000, 48_000)),
    TrainingRecipe(
        name="densenet", summary="DenseNet on CIFAR: 300 epochs, batch 64, lr 0.1 /10 at 50% "
        "and 75%, weight decay 1e-4, Nesterov 0.9",
        reference="Huang et al., Densely Connected Convolutional Networks, CVPR 2017, sec. 4.2",
        learning_rate=0.1, batch_size=64, epochs=300, weight_decay=1e-4, milestones=(150, 225)),
    TrainingRecipe(
        name="cliquenet", summary="CliqueNet on CIFAR: DenseNet's schedule (300 epochs, batch "
        "64, lr 0.1 /10 at 50% and 75%, weight decay 1e-4, Nesterov 0.9), no augmentation",
        reference="Yang et al., Convolutional Neural Networks with Alternately Updated Clique, "
        "CVPR 2018, sec. 4.1; reference code github.com/iboing/CliqueNet train.py (40 epochs "
        "on SVHN)",
        learning_rate=0.1, batch_size=64, epochs=300, weight_decay=1e-4, milestones=(150, 225),
        augment=False),
    TrainingRecipe(
        name="fast", summary="quick results: SGD Nesterov 0.9, linear warm-up over the first "
        "1/15 of the run (2 of 30 epochs) then cosine to 0, lr 0.1, weight decay 5e-4, label "
        "smoothing 0.1, batch 128",
        reference="Goyal et al. 2017 (warm-up); Loshchilov & Hutter, SGDR, ICLR 2017 (cosine); "
        "Szegedy et al., CVPR 2016 (label smoothing)",
        learning_rate=0.1, batch_size=128, epochs=30, weight_decay=5e-4, schedule="cosine",
        warmup_fraction=round(2 / 30, 4), label_smoothing=0.1),
    TrainingRecipe(
        name="modern", summary="fast's schedule with timm-style augmentation from Keras's "
        "layers: MixUp alpha 0.2 or CutMix alpha 1.0 per batch, RandAugment (2 ops, factor "
        "0.5), RandomErasing p 0.25, EMA of the weights (momentum 0.9, use_ema), label "
        "smoothing 0.1",
        reference="Wightman et al., ResNet strikes back, 2021 (timm's recipes); Zhang et al. "
        "2018 (mixup); Yun et al. 2019 (CutMix); Cubuk et al. 2020 (RandAugment); Zhong et "
        "al. 2020 (random erasing)",
        learning_rate=0.1, batch_size=128, epochs=30, weight_decay=5e-4, schedule="cosine",
        warmup_fraction=round(2 / 30, 4), label_smoothing=0.1, mixup_alpha=0.2,
        cutmix_alpha=1.0, rand_augment=0.5, random_erasing=0.25, ema_momentum=0.9),
)}


def list_recipes() -> list[str]:
    """Names of the recipes: ``['cliquenet', 'densenet', 'fast', 'modern', 'resnet-cifar',
    'wrn']``."""
    return sorted(RECIPES)


def get_recipe(name) -> TrainingRecipe:
    """The recipe called ``name`` (see :func:`list_recipes`); a TrainingRecipe passes through.

    Example: ``get_recipe("wrn").weight_decay`` is 5e-4.
    """
    if isinstance(name, TrainingRecipe):
        return name
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(list_recipes())}; got {name!r}")
    return RECIPES[name]


def apply_weight_decay(model, weight_decay) -> list[str]:
    """Give every conv/dense kernel of ``model`` the coupled L2 penalty
    ``0.5 * weight_decay * ||w||^2`` (gradient ``weight_decay * w``); returns the paths
    of the decayed variables. BatchNorm parameters and biases are left alone.

    Example: ``apply_weight_decay(model, 5e-4)`` returns ``['conv2d/kernel', ...]``.
    """
    if not is_number(weight_decay) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a number >= 0 (e.g. 5e-4, 1e-4); "
                         f"got {weight_decay!r}")
    regularizer = keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None
    decayed = []
    for variable in model.trainable_variables:
        if variable.name in DECAYED_KERNELS:
            variable.regularizer = regularizer
            decayed.append(variable.path)
    return decayed


def emits_logits(model) -> bool:
    """Whether ``model`` ends in a layer without activation (logits, as with
    ``classifier_activation=None``) rather than softmax probabilities; a nested model as
    the last layer (a model with its input normalization) is looked into.

    Example: ``emits_logits(create_model("wrn-10-1", classifier_activation=None))`` is True.
    """
    last = model
    while isinstance(last, keras.Model) and last.layers:
        last = last.layers[-1]
    return getattr(last, "activation", None) is keras.activations.linear


def compile_model(model, optimizer, *, one_hot=False, jit_compile="auto",
                  steps_per_execution=1, run_eagerly=False, weighted=False):
    """Compile with cross-entropy (categorical for one-hot labels) and the metrics
    ``accuracy``, ``xent`` (cross-entropy without the L2 penalty) and ``examples``
    (:class:`~keras_resnets.layers.ExampleCount`); ``weighted`` makes them weigh examples by the data's
    sample weights (Keras's ``weighted_metrics``). The loss and ``xent`` take logits
    where the model emits them (:func:`emits_logits`).

    Example: ``compile_model(model, get_recipe("fast").optimizer(0.1), one_hot=True)``.
    """
    from_logits = emits_logits(model)
    if one_hot:
        loss = keras.losses.CategoricalCrossentropy(from_logits=from_logits)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy"),
                   keras.metrics.CategoricalCrossentropy(name="xent", from_logits=from_logits)]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                   keras.metrics.SparseCategoricalCrossentropy(name="xent",
                                                               from_logits=from_logits)]
    metrics.append(ExampleCount())
    model.compile(optimizer=optimizer, loss=loss, metrics=None if weighted else metrics,
                  weighted_metrics=metrics if weighted else None, jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution, run_eagerly=run_eagerly)
