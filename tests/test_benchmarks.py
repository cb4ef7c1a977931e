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


@pytest.mark.slow
def test_gpu_script_smoke_mode_reports_positive_throughput(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
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
