"""CliqueNet: published counts, Stage-I/II weight sharing, the paper's switches, saving,
training, feature extraction and argument errors."""

import keras
import numpy as np
import pytest

import keras_resnets as kr
from keras_resnets import blocks as B
from keras_resnets.blocks.dense import CliqueOptions
from keras_resnets.models import cliquenet as C


def _counts(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return trainable, model.count_params()


def _block_convs(model, block):
    return {layer.name: layer for layer in model.layers
            if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith(f"{block}_")}


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


# --------------------------------------------------------------------------- counts

# Table 3 of the paper (and the authors' README): parameters and "FLOPs".
PAPER_TABLE_3 = [
    ("cliquenet-12-36", 0.94e6, 0.91e9),
    ("cliquenet-15-64", 4.49e6, 4.21e9),
    ("cliquenet-15-80", 6.94e6, 6.45e9),
    ("cliquenet-18-80", 10.14e6, 9.45e9),
]


@pytest.mark.parametrize("name,params,flops", PAPER_TABLE_3)
def test_paper_parameter_counts_within_two_percent(name, params, flops):
    assert kr.count_params(name).trainable == pytest.approx(params, rel=0.02)


@pytest.mark.parametrize("name,params,flops", PAPER_TABLE_3)
def test_paper_flops_are_twice_the_multiply_adds(name, params, flops):
    # The paper's FLOPs column is 2 x MACs (multiply and add counted apart): within 0.2%.
    assert 2 * kr.count_macs(name) == pytest.approx(flops, rel=0.002)


def test_exact_counts_are_stable():
    # Regression values of this implementation (docs/families/cliquenet.md).
    assert kr.count_params("cliquenet-12-36") == (935_994, 944_842)
    assert kr.count_params("cliquenet-s3").trainable == 14_383_024


def test_built_model_matches_the_counter():
    model = kr.create_model("cliquenet-12-36")
    counted = kr.count_params("cliquenet-12-36")
    assert _counts(model) == (counted.trainable, counted.total)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("options", [
    {"attention": True}, {"bottleneck": True}, {"compression": True},
    {"attention": True, "bottleneck": True, "compression": True},
    {"variant": "I+I"}, {"variant": "I+II"}, {"refine_steps": 1}, {"loops": 2}])
def test_switches_count_what_they_build(options):
    spec = C.cifar_spec(6, 8, **options)
    model = kr.engine.build_model(spec, input_shape=(16, 16, 3))
    tally = kr.engine.count(spec, (16, 16, 3))
    assert _counts(model) == (tally.trainable, tally.total)


# ------------------------------------------------------------ Stage I / II sharing

def test_block_holds_the_papers_weights_once():
    n, k, c0 = 3, 8, 64
    model = kr.CliqueNet(3 * n, k, dropout_rate=0.0)
    convs = _block_convs(model, "block1")
    pairs = {f"block1_w{i}_{j}_conv" for j in range(1, n + 1) for i in range(n + 1) if i != j}
    assert set(convs) == pairs  # n input kernels W_0j + n(n-1) kernels W_ij
    assert len(convs) == n + n * (n - 1)
    kernels = sum(int(np.prod(layer.kernel.shape)) for layer in convs.values())
    assert kernels == 9 * k * (n * c0 + n * (n - 1) * k)
    # Stage I applies W_0j and W_ij (i < j); Stage II applies every W_ij again: the forward
    # kernels are called twice (shared layers), the feedback ones once, W_0j once.
    calls = {name: len(layer._inbound_nodes) for name, layer in convs.items()}
    for j in range(1, n + 1):
        for i in range(n + 1):
            if i != j:
                assert calls[f"block1_w{i}_{j}_conv"] == (2 if 0 < i < j else 1)
    assert sum(calls.values()) == n * (n + 1) // 2 + n * (n - 1)
    # The second call of a forward kernel reads the Stage-II version of its source layer.
    sources = [node.input_tensors[0]._keras_history[0].name
               for node in convs["block1_w1_3_conv"]._inbound_nodes]
    assert sources == ["block1_s1_l3_x1_relu", "block1_s2_l3_x1_relu"]


def test_bottleneck_block_shares_its_3x3_convs_too():
    n = 3
    model = kr.CliqueNet(3 * n, 8, bottleneck=True, dropout_rate=0.0)
    convs = _block_convs(model, "block2")
    spatial = {name for name in convs if name.startswith("block2_b")}
    assert len(spatial) == n and len(convs) == n * n + n
    assert all(convs[name].kernel_size == (3, 3) for name in spatial)
    assert all(convs[name].kernel_size == (1, 1) for name in set(convs) - spatial)
    assert all(len(convs[name]._inbound_nodes) == 2 for name in spatial)


def _stage_model(model, names):
    return keras.Model(model.input, [model.get_layer(name).output for name in names])


@pytest.mark.backend_agnostic
def test_stage_two_is_computed_with_the_stage_one_kernels():
    """Recompute Stage II's last layer from the shared layers' kernels: it is exactly
    ``sum_i W_i3 * relu(bn(X_i))`` with the kernels Stage I uses."""
    n = 3
    model = kr.CliqueNet(3 * n, 8, dropout_rate=0.0, input_shape=(8, 8, 3))
    values = [np.random.default_rng(i).normal(0, 0.2, tuple(w.shape)).astype("float32")
              for i, w in enumerate(model.weights)]
    values = [np.abs(v) + 0.5 if "variance" in w.path else v
              for v, w in zip(values, model.weights, strict=True)]
    model.set_weights(values)
    names = [f"block1_s2_l{n}_x{i}_relu" for i in range(1, n)] + [f"block1_s2_l{n}_add"]
    outputs = _stage_model(model, names)(
        np.random.default_rng(9).normal(size=(2, 8, 8, 3)).astype("float32"), training=False)
    activations, stage_two = outputs[:-1], _numpy(outputs[-1])
    recomputed = sum(
        _numpy(keras.ops.conv(a, model.get_layer(f"block1_w{i}_{n}_conv").kernel,
                              padding="same"))
        for i, a in enumerate(activations, 1))
    np.testing.assert_allclose(recomputed, stage_two, rtol=1e-4, atol=1e-4)


@pytest.mark.backend_agnostic
def test_changing_a_shared_kernel_changes_both_stages():
    model = kr.CliqueNet(9, 8, dropout_rate=0.0, input_shape=(8, 8, 3))
    # Stage I's last layer (its summed convolutions) and the Stage-II features.
    probe = _stage_model(model, ["block1_s1_l3_add", "block1_stage2"])
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    before = [_numpy(t) for t in probe(x, training=False)]

    shared = model.get_layer("block1_w1_3_conv")  # Stage I and Stage II
    shared.kernel.assign(shared.kernel * 3.0 + 0.1)
    after = [_numpy(t) for t in probe(x, training=False)]
    assert not np.allclose(before[0], after[0])
    assert not np.allclose(before[1], after[1])

    feedback = model.get_layer("block1_w3_1_conv")  # Stage II only
    feedback.kernel.assign(feedback.kernel * 3.0 + 0.1)
    again = [_numpy(t) for t in probe(x, training=False)]
    np.testing.assert_array_equal(after[0], again[0])
    assert not np.allclose(after[1], again[1])


# ------------------------------------------------------------------ the paper's switches

def test_stage_one_only_variant_has_no_stage_two():
    model = kr.CliqueNet(9, 8, variant="I+I", dropout_rate=0.0)
    names = {layer.name for layer in model.layers}
    assert "block1_stage2" not in names and not any("_s2_" in name for name in names)
    assert len(_block_convs(model, "block1")) == 3 + 3  # W_0j and the forward W_ij only


def test_i_plus_ii_pools_stage_one_and_transits_stage_two():
    model = kr.CliqueNet(9, 8, variant="I+II", dropout_rate=0.0)
    feature_inputs = [t._keras_history[0].name
                      for t in model.get_layer("block1_feature")._inbound_nodes[0].input_tensors]
    assert feature_inputs == ["conv1_conv", "block1_stage1"]
    transition_input = model.get_layer("trans1_bn")._inbound_nodes[0].input_tensors[0]
    assert transition_input._keras_history[0].name == "block1_stage2"
    default = kr.CliqueNet(9, 8, dropout_rate=0.0)
    feature_inputs = [t._keras_history[0].name for t in
                      default.get_layer("block1_feature")._inbound_nodes[0].input_tensors]
    assert feature_inputs == ["conv1_conv", "block1_stage2"]


def test_refine_steps_updates_only_the_first_layers():
    model = kr.CliqueNet(9, 8, refine_steps=2, dropout_rate=0.0)
    names = {layer.name for layer in model.layers}
    assert "block1_s2_l2_add" in names and "block1_s2_l3_add" not in names


def test_attention_bottleneck_compression_layers():
    model = kr.CliqueNet(6, 8, attention=True, compression=True, dropout_rate=0.0)
    names = {layer.name for layer in model.layers}
    assert {"trans1_se_reduce", "trans1_se_expand", "trans1_se_scale"} <= names
    assert "trans2_se_reduce" in names and "trans3_bn" not in names  # none after the last block
    # Compression halves the block feature (input 64 + 2 layers x 8 = 80 -> 40).
    assert model.get_layer("block1_compress_conv").filters == 40
    assert model.get_layer("trans1_se_reduce").filters == 8  # C/2 for C = 2 x 8


def test_multiscale_head_pools_every_block():
    model = kr.CliqueNet(6, 8, include_top=False, pooling="avg")
    # block features: 64 + 16, 16 + 16, 16 + 16 channels
    assert model.output_shape == (None, 80 + 32 + 32)
    assert kr.CliqueNet(6, 8, include_top=False).output_shape == (None, 8, 8, 32)
    features = kr.CliqueNet(6, 8, features_only=True)
    assert {k: tuple(v.shape[1:]) for k, v in features.output.items()} == {
        "C2": (32, 32, 80), "C3": (16, 16, 32), "C4": (8, 8, 32)}
    # The stage outputs are the block features the head pools (the clique kind's feature).
    assert features.output["C3"] is features.get_layer("block2_gp_relu").output
    assert [f["reduction"] for f in kr.engine.feature_info(kr.get_spec("cliquenet-s0"))] == [
        4, 8, 16, 32]


@pytest.mark.backend_agnostic
def test_any_input_size_with_attention():
    model = kr.CliqueNet(6, 8, attention=True, include_top=False, input_shape=(None, None, 3))
    assert model.output_shape == (None, None, None, 32)
    out = model(np.zeros((1, 32, 40, 3), "float32"), training=False)
    assert tuple(out.shape) == (1, 8, 10, 32)


def _options(spec, kind):
    return [stage.options for stage in spec.stages if stage.kind == kind]


def _dropout_rates(spec):
    return {o.dropout_rate for kind in ("clique", "transition") for o in _options(spec, kind)}


def test_dropout_defaults_follow_the_paper():
    assert _dropout_rates(kr.get_spec("cliquenet-12-36")) == {0.2}
    assert _dropout_rates(kr.get_spec("cliquenet-12-36", dropout_rate=0.0)) == {0.0}
    assert _dropout_rates(kr.get_spec("cliquenet-s0")) == {0.0}
    spec = kr.get_spec("cliquenet-s1")
    cliques = _options(spec, "clique")
    assert all(o.bottleneck and o.compression for o in cliques)
    assert all(o.attention and o.compression == 1.0 for o in _options(spec, "transition"))
    assert tuple(o.layers for o in cliques) == (5, 6, 6, 6)
    assert tuple(s.filters for s in spec.stages if s.kind == "clique") == (36, 80, 120, 100)
    assert [o.transits for o in cliques] == [True, True, True, False]


def test_clique_block_is_public():
    x = keras.Input((8, 8, 16))
    transit, feature = B.clique_block(x, 4, layers=3, name="c")
    assert tuple(transit.shape) == (None, 8, 8, 12)
    assert tuple(feature.shape) == (None, 8, 8, 28)  # input 16 + 3 layers of 4
    assert keras.Model(x, transit).layers[-1].name == "c_stage2"
    stage_one, _ = B.clique_block(x, 4, layers=3, name="d", variant="I+I")
    assert keras.Model(x, stage_one).layers[-1].name == "d_stage1"


@pytest.mark.parametrize("call", [
    lambda: B.clique_block(keras.Input((8, 8, 16)), 4, layers=3, name="c", loops=0),
    lambda: CliqueOptions(layers=3, loops=0),
    lambda: kr.CliqueNet(12, 36, loops=0)])
def test_one_loops_rule_for_block_options_and_builder(call):
    with pytest.raises(ValueError, match=r"loops must be an integer >= 1"):
        call()


# ------------------------------------------------------------- saving and training

@pytest.mark.backend_agnostic
def test_safe_mode_keras_round_trip(tmp_path):
    model = kr.CliqueNet(6, 8, attention=True, bottleneck=True, compression=True,
                         input_shape=(16, 16, 3))
    path = str(tmp_path / "cliquenet.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.default_rng(2).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(_numpy(model(x, training=False)),
                               _numpy(loaded(x, training=False)), rtol=0, atol=1e-6)
    # The shared layers stay shared after loading.
    assert len(loaded.get_layer("block1_w1_2_conv")._inbound_nodes) == 2


@pytest.mark.backend_agnostic
def test_one_training_step_updates_shared_kernels():
    model = kr.CliqueNet(6, 8, input_shape=(16, 16, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    kernel = model.get_layer("block1_w1_2_conv").kernel
    before = _numpy(kernel).copy()
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
    history = model.fit(x, np.array([0, 1, 2, 3]), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before, _numpy(kernel))


# ------------------------------------------------------------------------ errors

@pytest.mark.parametrize("call,words", [
    (lambda: kr.create_model("cliquenet-13-36"), ["multiple of 3", "12, 15", "13"]),
    (lambda: kr.create_model("cliquenet-3-36"), ["at least 6", "3"]),
    (lambda: kr.create_model("cliquenet-12-0"), ["k", "0"]),
    (lambda: kr.create_model("cliquenet-s9"), ["s0", "s3", "s9"]),
    (lambda: kr.CliqueNet(12, 36, variant="II+I"), ["variant", "'II+II'", "'II+I'"]),
    (lambda: kr.CliqueNet(12, 36, refine_steps=5), ["refine_steps", "[0, 4]", "5"]),
    (lambda: kr.CliqueNet(12, 36, variant="I+I", refine_steps=2), ["refine_steps", "II+II"]),
    (lambda: kr.CliqueNet(12, 36, loops=0), ["loops", "0", "I+I"]),
    (lambda: kr.CliqueNet(12, 36, attention="yes"), ["attention", "'yes'"]),
    (lambda: kr.CliqueNet(12, 36, dropout_rate=1.5), ["dropout_rate", "1.5"]),
    (lambda: kr.CliqueNet(12, 36, drop_path_rate=0.2), ["drop_path_rate", "0.2"]),
    (lambda: kr.CliqueNet(12, 36, weights="imagenet"), ["weights='imagenet'"]),
    (lambda: kr.CliqueNetFromLayout((4, 4), (36,)), ["one entry per block", "(4, 4)"]),
    (lambda: kr.CliqueNetFromLayout((4, 1), (8, 8)), [">= 2", "(4, 1)"]),
    (lambda: kr.CliqueNetFromLayout((4, 4), (8, 8), stem="big"), ["stem", "'big'"]),
    (lambda: kr.create_model("cliquenet-12-36", stem="imagenet"), ["stem", "attention"]),
])
def test_bad_arguments_raise_clear_errors(call, words):
    with pytest.raises(ValueError) as error:
        call()
    for word in words:
        assert word in str(error.value)
