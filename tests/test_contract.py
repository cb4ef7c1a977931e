"""The contract every registered model keeps (in the spirit of keras-hub's backbone tests).

For each name of ``list_models()`` (but ResNet-1202, which the getting-started page
builds), at a small input, in one build: it builds; the
analytic counts equal the built model's; it honours ``drop_path_rate`` exactly when it
has residual branches and refuses it otherwise (the rate changes no weight and no
inference output, so one build serves both); its fresh logits are finite and bounded.

For one name of each kind of network (:func:`op_signature`: a deeper or wider copy is made
of the same layers, saved and called alike): it saves and reloads bit-identically;
``model(x)`` is inference, as ``model(x, training=False)``, drop path included; a preset
of it rebuilds it bit-identically (the cheapest of each family); its first two feature
levels, picked by ``out_indices``, are those ``feature_info`` describes, counted exactly;
a compiled ``predict`` on a ``tf.data`` pipeline gives the eager outputs; after one SGD
step every trainable weight gets a finite non-zero gradient. For a set of names that
together hold
every stem, block kind and head (:func:`covering`: what a dtype policy or a converter
sees is layers, not how many): it runs under mixed precision with a float32 head; it
converts to a builtins-only TFLite file that agrees with Keras (leaving the parts
``test_export`` converts to float32 and int8 to it).
"""

import functools

import keras
import numpy as np
import pytest
from helpers import EXPORT_FAMILY_CASES

import keras_resnets as kr
from keras_resnets import engine

HEAVY_PARAMS, HEAVY_LAYERS = 40_000_000, 250
"""A build takes tens of seconds beyond these analytic sizes (marked slow; CI still runs
them): the initialisers' work grows with the parameters, the graph's with the layers."""

def small_shape(name):
    """The smallest usual input for a quick build: 32x32 CIFAR nets stay as they are."""
    spec = kr.get_spec(name)
    height = spec.default_input_shape[0]
    if height <= 32:
        return spec.default_input_shape
    side = max(64, spec.reduction * 2, 80 if name in ("xception", "inceptionv3") else 0)
    return (side, side, 3)


def op_signature(name):
    """What decides the operations a model is made of, hence what a conversion or a dtype
    policy can trip on: the stem; each stage's block kind, option type and the switches
    that add or change layers (shortcut kind, squeeze-excitation, groups; dropout is the
    identity outside training); the head; and the
    layout options (stride placement, output stride, padding convention)."""
    spec = kr.get_spec(name)

    def stage(s):
        options = s.options if s.options is not None else spec.block_options
        switches = (getattr(options, "shortcut", None), getattr(options, "se_ratio", 0) > 0,
                    getattr(options, "groups", 1) > 1)
        return s.kind or spec.block, type(options).__name__, switches

    return (spec.stem.kind if spec.stem else None, frozenset(map(stage, spec.stages)),
            type(spec.head).__name__, spec.stride_at_end, spec.output_stride,
            spec.style.padding)


@functools.cache
def tally(name):
    """The analytic counts of ``name`` at its small input."""
    return engine.count_model(kr.get_spec(name), input_shape=small_shape(name))


def cost(name):
    """How long a model takes to build and convert: its layers, then its multiply-adds."""
    return tally(name).layers, tally(name).macs


def heavy(name):
    return tally(name).total > HEAVY_PARAMS or tally(name).layers > HEAVY_LAYERS


SMALL_COPIES = ("resnext11-4x4d", "preact-resnet11")
"""Names the registry builds but does not list, made of the same layers as a listed kind
at a fraction of its cost (the round trip of resnext29-8x64d took 43 s in CI, of
preact-resnet164 15 s): they stand for their kind."""


@functools.cache
def representatives():
    """The cheapest name of each :func:`op_signature`, listed or a small copy."""
    cheapest = {}
    for name in sorted([*kr.list_models(), *SMALL_COPIES], key=cost):
        cheapest.setdefault(op_signature(name), name)
    return sorted(cheapest.values())


@functools.cache
def one_per_family():
    """The cheapest representative of each registered family (resnet, densenet, ...)."""
    cheapest = {}
    for name in sorted(representatives(), key=cost):
        cheapest.setdefault(kr.model_info(name)["family"], name)
    return set(cheapest.values())


def compiled_predict_names():
    """The three cheapest representatives: tracing ``predict`` cost minutes for the
    largest (deeplabv3-resnet50: 75 -> 213 s), and the graph path is one fact."""
    return set(sorted(representatives(), key=cost)[:3])


def parts(name):
    """The parts a model is assembled from: its :func:`op_signature` taken apart."""
    stem, stages, head, at_end, output_stride, padding = op_signature(name)
    return {("stem", stem), ("head", head), ("stride_at_end", at_end),
            ("output_stride", output_stride is not None), ("padding", padding),
            *(("stage", stage) for stage in stages)}


def covering(names_covered_elsewhere=()):
    """Representatives, cheapest first, each kept when it has a part that neither the
    names kept before it nor ``names_covered_elsewhere`` have: together they hold every
    stem, block kind (with its switches), head and layout option of every registered name."""
    covered = set().union(*map(parts, names_covered_elsewhere))
    chosen = []
    for name in sorted(representatives(), key=cost):
        if parts(name) - covered:
            chosen.append(name)
            covered |= parts(name)
    return chosen


BUILT_BY_THE_DOCS = {"resnet1202"}
"""Built elsewhere in the suite: docs/getting-started.md builds, saves and reloads
ResNet-1202 and takes a sub-model of it (tests/test_readme.py); its counts are
resnet110's code with more blocks. The build took 20 s here too."""


def contract_names(names=None):
    if names is None:
        names = [n for n in kr.list_models() if n not in BUILT_BY_THE_DOCS]
    return [pytest.param(n, marks=pytest.mark.slow) if heavy(n) else n for n in names]


def droppable(name):
    spec = kr.get_spec(name)
    return any(engine.block_kind(s.kind or spec.block).drop_path for s in spec.stages)


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def set_batch_statistics(model, seed=1):
    """Moving means and variances away from 0 and 1 in every BatchNorm layer."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.1, channels).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype("float32"))


def assert_fresh_logits(y, name):
    """A fresh model's logits in inference mode are finite, and with residual branches they
    do not grow with depth: each branch starts as zero (before that, resnet110's reached
    8e8 and the 1000-layer nets', or resnet56's in float16, overflowed to NaN). Nets
    without residual branches (CliqueNet's multi-scale head sums many features: 1e4 for
    cliquenet-18-80) are only held to finite logits well inside float16's range after
    the float32 head."""
    limit = 1e4 if droppable(name) else 1e6
    assert np.isfinite(y).all() and np.abs(y).max() < limit, np.abs(y).max()


def inputs(shape, seed=0, batch=2):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, *shape)).astype("float32")


def eager_logits(model, x):
    """``model(x)`` in inference mode, run eagerly: tracing a graph (``predict_on_batch``)
    took 20 s for resnet1202, the eager call 3 s, to the same values."""
    return np.asarray(model(x, training=False))


def gradients(model, x, labels):
    """The gradient of the cross-entropy for every trainable weight, in a training call."""
    import tensorflow as tf

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        value = loss(labels, model(x, training=True))
    return tape.gradient(value, model.trainable_variables)


def assert_every_weight_learns(model, x):
    """One SGD step, then a gradient: every trainable weight's is finite and not all zero
    (a weight that no gradient reaches never learns). The step comes first because a
    zero-initialised residual branch passes no gradient to its inner weights until its
    last gamma has moved. (Every channel is not required: a channel that is zero for
    the whole batch, as 3 of the 64 stem channels of cliquenet-s2 at 64x64, gets no
    gradient legitimately.)"""
    labels = np.arange(len(x)) % model.output.shape[-1]
    if len(model.output.shape) > 2:  # per-pixel logits (DeepLab): a label per pixel
        labels = np.broadcast_to(labels.reshape(-1, *[1] * (len(model.output.shape) - 2)),
                                 (len(x), *model.output.shape[1:-1]))
    for variable, gradient in zip(model.trainable_variables, gradients(model, x, labels),
                                  strict=True):
        variable.assign_sub(0.1 * gradient)
    for variable, gradient in zip(model.trainable_variables, gradients(model, x, labels),
                                  strict=True):
        assert gradient is not None, variable.path
        gradient = np.asarray(gradient)
        assert np.isfinite(gradient).all() and np.abs(gradient).max() > 0, variable.path


def test_representatives_and_cover_hold_every_kind_of_network():
    chosen = representatives()
    assert {op_signature(n) for n in chosen} == {op_signature(n) for n in kr.list_models()}
    assert len(chosen) == len({op_signature(n) for n in chosen})
    every_part = set().union(*map(parts, kr.list_models()))
    assert set().union(*map(parts, covering())) == every_part
    exported = [name for _, name, _, _ in EXPORT_FAMILY_CASES]
    assert set().union(*map(parts, covering(exported) + exported)) == every_part
    assert "resnet18v2" in covering(exported)  # stride at the end: no export case has it


@pytest.mark.parametrize("name", contract_names())
def test_builds_counts_drop_path_and_fresh_logits(name):
    keras.utils.set_random_seed(0)
    shape = small_shape(name)
    rate = 0.2 if droppable(name) else 0.0
    if not rate:
        for call in (kr.create_model, kr.count_params):
            with pytest.raises(ValueError, match="drop_path_rate must be 0"):
                call(name, input_shape=shape, drop_path_rate=0.1)
    model = kr.create_model(name, input_shape=shape, classes=7, classifier_activation=None,
                            drop_path_rate=rate)
    counted = kr.count_params(name, input_shape=shape, classes=7, drop_path_rate=rate)
    assert (trainable_count(model), model.count_params()) == (counted.trainable, counted.total)
    assert model.output_shape[-1] == 7
    if rate:
        rates = [layer.rate for layer in model.layers
                 if isinstance(layer, kr.layers.StochasticDepth)]
        # rising linearly to 0.2 over the residual blocks (MobileNetV2's last block, which
        # has no residual sum, takes the top rate without a layer to apply it)
        assert rates == sorted(rates) and 0 < min(rates) and max(rates) <= 0.2 + 1e-9

    assert_fresh_logits(eager_logits(model, inputs(shape)), name)


@pytest.mark.parametrize("name", contract_names(representatives()))
def test_round_trips_inference_call_features_predict_and_learning(name, tmp_path):
    shape = small_shape(name)
    model = kr.create_model(name, input_shape=shape, classes=7, classifier_activation=None,
                            drop_path_rate=0.2 if droppable(name) else 0.0)
    x = inputs(shape)
    y = eager_logits(model, x)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = kr.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(eager_logits(reloaded, x), y)

    # A plain call is inference, as in every Keras model: with BatchNorm statistics away
    # from their defaults, a layer that ran in training mode (or a drop path) could not hide.
    set_batch_statistics(model)
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(x, training=False)))

    if name in one_per_family():  # a preset rebuilds it exactly, BatchNorm statistics too
        kr.save_preset(model, tmp_path / "preset")
        np.testing.assert_array_equal(
            eager_logits(kr.create_model(str(tmp_path / "preset")), x), eager_logits(model, x))

    every = engine.feature_info(kr.get_spec(name), shape)
    reductions = [f["reduction"] for f in every]
    assert reductions == sorted(reductions) and len(set(reductions)) == len(reductions)
    # the first two levels, by index and by name: the network ends at the second
    picked = (0, every[1]["name"].lower())
    info = kr.feature_info(name, input_shape=shape, out_indices=picked)
    assert info == every[:2]
    features = kr.create_model(name, input_shape=shape, features_only=True, out_indices=picked)
    counted = kr.count_params(name, input_shape=shape, features_only=True, out_indices=picked)
    assert (trainable_count(features), features.count_params()) == tuple(counted)
    assert kr.feature_info(features) == info
    assert list(features.output) == [f["name"] for f in info]
    for f in info:
        out = features.output[f["name"]]
        assert features.get_layer(f["layer"]).output is out
        assert out.shape[-1] == f["channels"]
        assert out.shape[1] == -(-shape[0] // f["reduction"]) or name.startswith("deeplab") \
            or name in ("xception", "inceptionv3")  # valid-padded stems shrink a little more

    if name in compiled_predict_names():  # a compiled predict on tf.data is the eager call
        import tensorflow as tf

        predicted = model.predict(tf.data.Dataset.from_tensor_slices(x).batch(1), verbose=0)
        expected = eager_logits(model, x)  # float32 rounding of a traced graph: up to 3.4e-3
        np.testing.assert_allclose(predicted, expected,
                                   atol=1e-4 * np.abs(expected).max())  # of 234
    keras.utils.set_random_seed(0)  # which branches drop path drops in the training calls
    assert_every_weight_learns(model, inputs(shape, seed=1, batch=4))


@pytest.mark.parametrize("name", contract_names(covering()))
def test_mixed_precision_float32_head(name):
    keras.utils.set_random_seed(0)
    shape = small_shape(name)
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = kr.create_model(name, input_shape=shape, classes=7, classifier_activation=None)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("predictions").dtype_policy.compute_dtype == "float32"
    y = eager_logits(model, inputs(shape))
    assert y.dtype == np.float32 and y.shape[-1] == 7
    assert_fresh_logits(y, name)


@pytest.mark.parametrize("name", contract_names(
    covering(name for _, name, _, _ in EXPORT_FAMILY_CASES)))
def test_converts_to_builtin_tflite(name, tmp_path):
    from keras_resnets.export import export_tflite

    shape = small_shape(name)
    model = kr.create_model(name, input_shape=shape, classes=7)
    report = export_tflite(model, tmp_path / f"{name}.tflite", verify_samples=inputs(shape))
    # softmax outputs: export_tflite itself refuses a file off by more than 1e-4
    assert report.samples == 2 and report.max_abs_error <= 1e-4
