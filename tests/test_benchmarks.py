"""The benchmark harness's statistics, the GPU script's smoke mode on the CPU, and the
export warning that the TFLite measurements (docs/export.md) call for."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import harness  # noqa: E402


def test_abba_alternates_the_order_and_warms_every_side_alike():
    calls = []
    times = harness.abba({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                         repeats=4, warmup=2)
    assert calls == ["a", "b", "b", "a"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}


def test_abba_times_with_the_given_clock():
    ticks = iter(range(100))
    times = harness.abba({"a": lambda: None}, repeats=3, warmup=0, clock=lambda: next(ticks))
    assert times == {"a": [1, 1, 1]}


def test_an_interval_holding_one_is_published_as_parity():
    same = harness.compare([1.0, 1.2, 0.9, 1.1], [1.1, 0.95, 1.05, 1.0])
    assert same["low"] <= 1.0 <= same["high"] and harness.verdict(same) == "parity"
    faster = harness.compare([2.0, 2.1, 1.9, 2.05], [1.0, 1.02, 0.98, 1.01])
    assert faster["low"] > 1.0 and harness.verdict(faster) == "faster"
    assert harness.ratio_text(faster).endswith("faster")


def test_results_say_whether_other_jobs_shared_the_machine(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert "no other job" in harness.busy_note([0.1, 0.5, 1.0], [1.9, 1.2, 1.0])
    assert "other jobs ran" in harness.busy_note([0.1, 0.5, 1.0], [2.6, 1.2, 1.0])
    assert "other jobs ran" in harness.busy_note([6.0, 5.0, 4.0], [1.0, 1.0, 1.0])


@pytest.fixture
def jax_cpu_env():
    """The environment of the GPU scripts' smoke runs: JAX, on the CPU."""
    return dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")


@pytest.mark.slow
def test_gpu_script_smoke_mode_reports_positive_throughput(tmp_path, jax_cpu_env):
    out = tmp_path / "gpu.json"
    env = jax_cpu_env
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench_gpu.py"), "--smoke",
                           "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["machine"]["backend"] == "jax"
    assert {"device", "load_before", "load_after", "timed_call"} <= set(report)
    assert [row["precision"] for row in report["throughput"]] == ["float32", "mixed_bfloat16"]
    for row in report["throughput"]:
        for key in ("images_per_s", "step_s", "training_flops_per_image", "achieved_tflops",
                    "peak_tflops", "mfu"):
            assert row[key] > 0, (key, row)
    loop = report["loops"][0]   # train_on_batch against the loops that keep the device busy
    assert (loop["model"], loop["precision"], loop["batch"]) == ("wrn-10-1", "mixed_bfloat16", 2)
    for side in ("train_on_batch", "jit_loop", "scan"):
        assert loop[side]["step_s"] > 0 and loop[side]["mfu"] > 0, side
    for side in ("jit_loop", "scan"):  # the same 8 steps from one state: the same weights
        assert 0 < loop[side]["ci95"][0] <= loop[side]["speedup"] <= loop[side]["ci95"][1]
        assert loop[f"{side}_max_abs_diff"] <= 0.05 * loop["max_abs_update"], loop
    assert loop["max_abs_update"] > 0.01
    bf16_bn = loop["scan_bf16_bn"]   # the scan with batch norms normalizing in bfloat16
    assert bf16_bn["step_s"] > 0 and bf16_bn["mfu"] > 0
    assert 0 < bf16_bn["ci95"][0] <= bf16_bn["speedup"] <= bf16_bn["ci95"][1]
    assert 0 < bf16_bn["ci95_vs_scan"][0] <= bf16_bn["speedup_vs_scan"] <= bf16_bn[
        "ci95_vs_scan"][1]
    # same state and batches as scan's: losses 1.6-4.6, 0.0036 apart at most when written
    assert loop["losses"]["scan"] != loop["losses"]["scan_bf16_bn"]   # it did run its own BN
    assert 0 < loop["scan_bf16_bn_loss_max_abs_diff"] <= 0.05, loop["losses"]
    assert loop["scan_bf16_bn_max_abs_diff"] <= 0.2 * loop["max_abs_update"], loop
    ratio = report["step_ratio"]
    assert ratio["ratio"] > 0 and 0 < ratio["ci95"][0] <= ratio["ci95"][1]
    assert all(seconds > 0 for seconds in ratio["step_s"].values())
    assert all(setup["first_step_s"] > 0 for setup in ratio["setup"].values())

    tables = subprocess.run([sys.executable, str(BENCHMARKS / "bench_gpu.py"), "--tabulate",
                             "gpu_smoke", str(out), "--results-dir", str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert tables.returncode == 0, tables.stderr[-3000:]
    rows = [line for line in (tmp_path / "gpu_smoke.md").read_text().splitlines()
            if line.startswith("| wrn-") and line.count("|") == 10]   # the throughput table
    assert [row.split(" | ")[1] for row in rows] == ["float32", "mixed_bfloat16"]
    assert json.loads((tmp_path / "gpu_smoke.json").read_text())[0]["smoke"] is True
    ratio_row = next(line for line in (tmp_path / "gpu_smoke.md").read_text().splitlines()
                     if line.startswith("| 2 |"))
    assert f"{ratio['ratio']:.2f} [" in ratio_row
    loop_row = next(line for line in (tmp_path / "gpu_smoke.md").read_text().splitlines()
                    if line.startswith("| wrn-10-1 | 32 | mixed_bfloat16 | 2 |"))
    assert f"{loop['scan']['speedup']:.2f} [" in loop_row
    assert f"{bf16_bn['speedup_vs_scan']:.2f} [" in loop_row


# Run by test_bf16_batch_norm_matches_keras_within_bfloat16_rounding under the JAX backend.
# bfloat16 keeps 8 significant bits: each rounding errs by at most u = 2**-8 of its value.
# Keras's layer rounds its float32 result once; the variant rounds scale, shift, x * scale
# and the sum: |difference| <= u * (2 |x scale| + |shift| + 2 |y|) <= 2**-7 (|x scale| +
# |shift| + |y|) elementwise (0.56 of it at most when written).
BF16_BATCH_NORM_CHECK = """
import jax
import jax.numpy as jnp
import keras
import numpy as np

from bf16_batch_norm import bf16_batch_norm

rng = np.random.default_rng(0)
channels = 16
x = rng.normal(size=(8, 6, 6, channels)) * rng.uniform(0.5, 2, channels) + rng.uniform(
    0.5, 3, channels)
# gamma, beta, moving mean (positive like x's means: relative errors mean something), variance
weights = [rng.uniform(0.5, 1.5, channels), rng.normal(size=channels),
           rng.uniform(0.5, 3, channels), rng.uniform(0.5, 2, channels)]


def pair(policy):
    layers = [kind(momentum=0.9, epsilon=1e-5, dtype=policy)
              for kind in (keras.layers.BatchNormalization, bf16_batch_norm())]
    for layer in layers:
        layer.build(x.shape)
        layer.set_weights([w.astype("float32") for w in weights])
    return layers


def f64(a):
    return np.asarray(a, "float64")


keras_bn, ours = pair("float32")   # float32 inputs: Keras's layer, bit for bit
for training in (True, False):
    assert np.array_equal(keras_bn(x, training=training), ours(x, training=training))
    assert all(np.array_equal(a, b) for a, b in zip(keras_bn.get_weights(), ours.get_weights()))

keras_bn, ours = pair("mixed_bfloat16")
xb = jnp.asarray(x, jnp.bfloat16)
for training in (True, False):   # batch statistics, then the moving ones just updated
    mean, variance = ((f64(xb).mean(axis=(0, 1, 2)), f64(xb).var(axis=(0, 1, 2))) if training
                      else map(f64, keras_bn.get_weights()[2:]))
    expected, got = keras_bn(xb, training=training), ours(xb, training=training)
    assert got.dtype == expected.dtype == jnp.bfloat16
    scale = f64(keras_bn.gamma) / np.sqrt(variance + 1e-5)
    shift = f64(keras_bn.beta) - mean * scale
    error = abs(f64(got) - f64(expected))
    assert (error <= 2.0**-7 * (abs(f64(xb) * scale) + abs(shift) + abs(f64(expected)))).all()
    assert error.max() <= 1e-2 * abs(f64(expected)).max(), error.max()
    for a, b in zip(keras_bn.get_weights(), ours.get_weights()):   # moving stats in float32
        assert (abs(f64(a) - f64(b)) <= 1e-5 * abs(f64(a))).all()


def grads(layer):   # the variant's own gradient of x * scale + shift against autodiff's
    def loss(trainable, inputs):
        y, _ = layer.stateless_call(trainable, [v.value for v in layer.non_trainable_variables],
                                    inputs, training=True)
        return jnp.sum(y.astype("float32") * jnp.linspace(-1, 1, y.size).reshape(y.shape))
    return jax.jit(jax.grad(loss, argnums=(0, 1)))([v.value for v in layer.trainable_variables],
                                                   xb)


(expected, expected_x), (got, got_x) = grads(keras_bn), grads(ours)
for a, b in zip(expected, got):   # gamma, beta: accumulated in float32 (8e-8 when written)
    assert abs(f64(a) - f64(b)).max() <= 1e-4 * abs(f64(a)).max()
# the input's gradient is bfloat16: a few roundings of terms the size of it (0.004 written)
assert abs(f64(got_x) - f64(expected_x)).max() <= 2e-2 * abs(f64(expected_x)).max()
print("ok")
"""


def test_bf16_batch_norm_matches_keras_within_bfloat16_rounding():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", BF16_BATCH_NORM_CHECK], cwd=BENCHMARKS,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


@pytest.mark.slow
def test_profile_script_smoke_mode_names_the_ops_that_take_the_device_time(tmp_path, jax_cpu_env):
    out, trace_dir = tmp_path / "profile.json", tmp_path / "trace"
    env = dict(jax_cpu_env, XLA_FLAGS="--xla_backend_optimization_level=0")  # compiles 2x faster
    done = subprocess.run([sys.executable, str(BENCHMARKS / "profile_gpu.py"), "--smoke",
                           "--trace-dir", str(trace_dir), "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert (report["model"], report["batch"], report["precision"]) == ("wrn-10-1", 2, "float32")
    assert summary["steps"] == 3 and summary["source"] == "host XLA ops"  # no device on a CPU
    assert report["tflop_per_step"] == pytest.approx(2 * 3 * 2 * 12_501_632 / 1e12)
    rounding = 1 + 1e-9   # equal sums, added in another order, may differ in the last bit
    assert 0 < summary["busy_ms_per_step"] <= summary["op_ms_per_step"] * rounding  # overlaps once
    assert summary["busy_ms_per_step"] <= summary["span_ms_per_step"] * rounding
    assert 0 <= report["idle_share"] < 1 and report["mfu"] > 0 and report["mfu_busy"] > 0
    assert report["profile"]["step_ms"] > 0 and report["profile"]["traced_step_ms"] > 0
    assert sum(row["share"] for row in summary["categories"].values()) == pytest.approx(1)
    assert summary["top_ops"][0]["count"] == 3   # each op of the step runs once per step
    convolutions = [op for op in summary["top_ops"] if op["category"] == "convolution/matmul"]
    assert convolutions and all("conv" in op["hlo_op"] for op in convolutions)
    assert list(trace_dir.glob("plugins/profile/*/perfetto_trace.json.gz"))
    assert "convolution/matmul" in done.stdout


def test_the_profile_summary_counts_device_streams_once_and_shares_by_name():
    import profile_gpu

    def meta(pid, name, tid=None):
        kind = "process_name" if tid is None else "thread_name"
        return {"ph": "M", "pid": pid, "name": kind, "args": {"name": name},
                **({} if tid is None else {"tid": tid})}

    def op(pid, tid, ts, dur, name, **args):
        return {"ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": dur, "name": name,
                "args": args}

    conv = "sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc"
    gpu = {"traceEvents": [
        meta(1, "/host:CPU"), meta(1, "python", 3), meta(2, "/device:GPU:0"),
        meta(2, "Stream #7(Kernel,MemcpyD2D)", 7), meta(2, "Stream #8(Kernel)", 8),
        meta(2, "XLA Ops", 9),                                   # derived: not counted
        op(2, 7, 0, 100, conv, hlo_op="cudnn-conv.1"), op(2, 7, 100, 50, "input_reduce_fusion_2"),
        op(2, 8, 120, 40, "MemcpyD2D"),                          # overlaps the reduction
        op(2, 7, 200, 30, "loop_convert_fusion_3"), op(2, 7, 300, 100, conv),
        op(2, 9, 0, 400, "convolution.1"), op(1, 3, 0, 1000, "PjitFunction(one_step)"), {}]}
    summary = profile_gpu.summarize(gpu, steps=2)
    assert (summary["source"], summary["events"]) == ("device streams", 5)
    # busy: [0, 160] + [200, 230] + [300, 400] = 290 us; summed: 320 us; span: 400 us
    assert summary["busy_ms_per_step"] == pytest.approx(0.290 / 2)
    assert summary["op_ms_per_step"] == pytest.approx(0.320 / 2)
    assert summary["span_ms_per_step"] == pytest.approx(0.400 / 2)
    assert {label: row["share"] for label, row in summary["categories"].items()} == {
        "copy/transpose": 40 / 320, "convolution/matmul": 200 / 320,
        "reduction (batch norm)": 50 / 320, "other": 0.0, "elementwise fusion": 30 / 320}
    assert summary["top_ops"][0] == {"name": conv, "category": "convolution/matmul",
                                     "ms_per_step": 0.1, "share": 200 / 320, "count": 2,
                                     "hlo_op": "cudnn-conv.1"}
    cpu = {"traceEvents": [
        meta(5, "/host:CPU"), op(5, 1, 0, 50, "ThunkExecutor::Execute"),
        op(5, 1, 10, 20, "convolution.6", hlo_op="convolution.6"),
        op(5, 1, 30, 0.1, "end: convolution.6"),
        op(5, 2, 20, 20, "ynn_fusion.3", hlo_op="ynn_fusion.3")]}
    summary = profile_gpu.summarize(cpu, steps=1)
    assert (summary["source"], summary["events"]) == ("host XLA ops", 2)
    assert summary["busy_ms_per_step"] == pytest.approx(0.030)   # [10, 40]
    assert summary["categories"]["other"]["share"] == 0.5   # YNNPACK: conv, dot or reduce
    assert profile_gpu.category("void cudnn::ops::nchwToNhwcKernel<float>") == "copy/transpose"


def test_dynamic_range_export_of_a_depthwise_net_warns_that_it_measured_slower():
    import keras_resnets
    from keras_resnets import export

    model = keras_resnets.create_model("mobilenetv2-0.35", input_shape=(32, 32, 3), classes=10)
    # int8_io is refused after the warning, so nothing is converted here.
    with pytest.warns(UserWarning, match="depthwise"), pytest.raises(ValueError, match="int8_io"):
        export.export_tflite(model, "unused.tflite", "dynamic", int8_io=True)
    plain = keras_resnets.create_model("resnet20")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="int8_io"):
            export.export_tflite(plain, "unused.tflite", "dynamic", int8_io=True)


def test_kernels_default_to_he_uniform_and_the_papers_he_normal_is_one_field_away():
    import dataclasses

    import keras

    import keras_resnets

    def initializers(model):
        return {type(layer.kernel_initializer).__name__ for layer in model.layers
                if isinstance(layer, keras.layers.Conv2D)}

    assert initializers(keras_resnets.create_model("resnet20")) <= {"HeUniform", "Zeros"}
    spec = keras_resnets.get_spec("resnet20")
    style = dataclasses.replace(spec.style, kernel_initializer="he_normal")
    paper = keras_resnets.build_model(dataclasses.replace(spec, style=style))
    assert "HeNormal" in initializers(paper) and "HeUniform" not in initializers(paper)


def test_training_ratios_name_the_faster_side():
    import bench_training

    slower_thin_net = harness.compare([4.2, 4.3, 4.1, 4.25], [1.0, 1.1, 1.05, 1.02])
    assert bench_training.labelled(slower_thin_net, "WRN-40-4", "ResNet-1001").endswith(
        "WRN-40-4 faster")
    faster_tf = harness.compare([1.0, 1.1, 1.05, 1.02], [4.2, 4.3, 4.1, 4.25])
    assert bench_training.labelled(faster_tf, "JAX", "TensorFlow").endswith("TensorFlow faster")


@pytest.mark.slow
def test_export_accuracy_rows_compare_keras_and_both_files_on_the_held_out_digits(tmp_path):
    import bench_export

    row = bench_export.digits_accuracy("resnet8", 3, str(tmp_path))  # resnet20: 41 s in CI
    assert (row["model"], row["epochs"], row["test images"]) == ("resnet8", 3, 360)
    percent = {key: float(row[key].rstrip("%")) for key in ("Keras", "TFLite float32",
                                                            "TFLite int8")}
    assert percent["TFLite float32"] == percent["Keras"] > 20.0  # 29.4% when written (chance: 10%)
    assert row["float32 top-1 agreement"] == "100.0%"
    assert abs(percent["TFLite int8"] - percent["TFLite float32"]) <= 5.0
    assert float(row["int8 - f32 (points)"]) == pytest.approx(
        percent["TFLite int8"] - percent["TFLite float32"], abs=0.02)
