"""The multiply-add and latency budgets of the tuner: exact feasible sets whose MACs are
the built models', candidates timed in LiteRT and cached, and a search on digits from
the command line under both budgets (repeated: nothing measured twice), exported.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os

import keras
import pytest

from keras_resnets import registry, tuning
from keras_resnets.cli import main
from keras_resnets.tuning import latency as latency_lib


def keras_macs(model) -> int:
    """Multiply-adds of a built model for one image, from its layers' kernels and output
    sizes (independent of the analytic counter): a convolution does one multiply-add per
    kernel weight at each output position, a dense layer one per kernel weight."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.SeparableConv2D):
            h, w = layer.output.shape[1:3]
            total += h * w * (math.prod(layer.depthwise_kernel.shape)
                              + math.prod(layer.pointwise_kernel.shape))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            h, w = layer.output.shape[1:3]
            total += h * w * math.prod(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
        else:  # only normalization has weights besides them
            assert isinstance(layer, keras.layers.BatchNormalization) or not layer.weights, layer
    return total


def _brute_force(family, budget, macs_budget, tolerance):
    """Every point of the family's default grid in both bands, counted one by one."""
    axes = registry.tuning_families()[family]
    keys = []
    for depth, width, card in itertools.product(axes.depths, axes.widths,
                                                axes.cardinalities or (None,)):
        key = axes.model_name(depth, width, card)
        tally = registry.count_params(key, input_shape=(32, 32, 3), classes=10)
        macs = registry.count_macs(key, input_shape=(32, 32, 3), classes=10)
        if (budget is None or (1 - tolerance) * budget <= tally.trainable <= budget) and \
                (1 - tolerance) * macs_budget <= macs <= macs_budget:
            keys.append(key)
    return sorted(keys)


def test_macs_budget_feasible_sets_are_exact_and_their_macs_are_the_built_models():
    # the band of each budget, alone and together, over whole default grids
    for family, budget, macs_budget in (("wrn", None, 60_000_000),
                                        ("wrn", 300_000, 60_000_000),
                                        ("resnext", None, 150_000_000)):
        configs = tuning.feasible_configs(family, budget, macs_budget=macs_budget,
                                          tolerance=0.5)
        assert sorted(c.key for c in configs) == _brute_force(family, budget, macs_budget,
                                                                0.5)
    both = tuning.feasible_configs("wrn", 300_000, macs_budget=60_000_000, tolerance=0.5)
    # wrn-10-2 (303,706 parameters) and wrn-28-1 (369,498) are in the MAC band only
    assert [c.key for c in both] == ["wrn-22-1"]
    # one space of each family, grid and iso (fractional widths), built and counted
    spaces = [("wrn", dict(macs_budget="30M", mode="iso", depths=(10,))),
              ("wrn", dict(budget=300_000, macs_budget="60M", depths=(22,), widths=(1, 2))),
              ("resnet", dict(macs_budget="60M", mode="iso", depths=(20,))),
              ("resnext", dict(macs_budget="150M", depths=(11,), widths=(4,), cardinalities=(1, 2))),
              ("densenet-bc", dict(macs_budget="120M", depths=(40,), widths=(12, 16)))]
    configs = [c for family, kwargs in spaces
               for c in tuning.feasible_configs(family, tolerance=0.5, **kwargs)]
    assert [c.key for c in configs] == ["wrn-10-1.6", "wrn-22-1", "resnet20-w1.2",
                                        "resnext11-1x4d", "resnext11-2x4d",
                                        "densenet-bc-40-12"]
    for c in configs:
        model = registry.create_model(c.key, input_shape=(32, 32, 3), classes=10)
        assert keras_macs(model) == c.macs, c.key


def test_macs_budget_errors_name_the_budgets_that_work():
    with pytest.raises(ValueError, match="a budget is needed"):
        tuning.feasible_configs("wrn")
    with pytest.raises(ValueError, match="macs_budget must be a number of multiply-adds"):
        tuning.feasible_configs("wrn", macs_budget="60X")
    with pytest.raises(ValueError) as info:
        tuning.feasible_configs("wrn", "4M", macs_budget="60M")
    message = str(info.value)
    assert "between 3,600,000 and 4,000,000 parameters and between 54,000,000 and " \
           "60,000,000 multiply-adds" in message
    assert "MAC budgets from 12,501,632 (12.5M)" in message
    assert "wrn-10-2 (44,483,840 multiply-adds) and wrn-34-1 (69,124,736 multiply-adds)" \
        in message
    assert registry.count_macs("wrn-34-1", input_shape=(32, 32, 3)) == 69_124_736


def test_latency_budget_drops_slow_candidates_and_measures_each_once(tmp_path, monkeypatch):
    """Filtering and caching, with stand-in timings (the real ones: the CLI test below)."""
    timings = {"wrn-10-1": 0.2, "wrn-16-1": 0.4}
    measured = []

    def stand_in(config, budget, **kwargs):
        measured.append(config.key)
        value = timings[config.key]
        return latency_lib.Latency(value, value * 0.9, value * 1.1, budget.repeats)

    monkeypatch.setattr(latency_lib, "measure_config", stand_in)
    space = dict(family="wrn", budget=200_000, tolerance=0.9, depths=(10, 16), widths=(1,))
    budget = latency_lib.LatencyBudget(0.3, cache_dir=tmp_path)
    hypermodel = tuning.BudgetedHyperModel(**space, latency=budget)
    assert [c.key for c in hypermodel.configs] == ["wrn-10-1"] and measured == ["wrn-10-1",
                                                                                  "wrn-16-1"]
    assert hypermodel.definition()["max_latency_ms"] == 0.3
    assert len(os.listdir(tmp_path)) == 2
    again = tuning.BudgetedHyperModel(**space, latency=budget)  # from the cache
    assert again.measurements.measured == 0 and again.measurements.cached == 2
    assert again.measurements.latencies["wrn-16-1"].median_ms == 0.4 and len(measured) == 2
    # another thread count is another measurement
    tuning.BudgetedHyperModel(**space, latency=latency_lib.LatencyBudget(
        0.3, threads=2, cache_dir=tmp_path))
    assert len(measured) == 4
    with pytest.raises(ValueError, match=r"max_latency_ms 0.1 admits none of the 2 .* the "
                                         r"fastest, wrn-10-1, takes 0.200 ms"):
        tuning.BudgetedHyperModel(**space, latency=latency_lib.LatencyBudget(
            0.1, cache_dir=tmp_path))
    for kwargs, match in ((dict(max_ms=0), "max_latency_ms must be a number"),
                          (dict(max_ms=1, threads=0), "latency_threads must be an integer"),
                          (dict(max_ms=1, quantization="int4"), "latency_quantization must")):
        with pytest.raises(ValueError, match=match):
            latency_lib.LatencyBudget(**kwargs)


@pytest.mark.slow
def test_cli_macs_and_latency_budgeted_search_on_digits(tmp_path, capsys):
    """A search under a MAC and a latency budget, really measured; the same command again
    measures and trains nothing; the export reports its latency next to the search's."""
    directory, cache = tmp_path / "tune", tmp_path / "cache"
    argv = ["tune", "--family", "wrn", "--budget-macs", "13M", "--depths", "10",
            "--widths", "1", "--max-latency-ms", "50", "--latency-cache", str(cache),
            "--dataset", "digits", "--recipe", "fast", "--batch-size", "32",
            "--train-samples", "64", "--val-samples", "32", "--no-jit", "--eager",
            "--epochs", "1", "--max-trials", "1", "--dir", str(directory)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "[tune] latency (int8, 1 thread, batch 1, LiteRT): measured 1 candidate in " in out
    assert "[tune] wrn at 13,000,000 multiply-adds (tolerance 0.1, grid mode): 1 feasible " \
           "configuration within 50 ms" in out
    with open(directory / "results.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["config"] == "wrn-10-1" and row["macs"] == "12501632"
    assert row["params"] == "77850" and 0 <= float(row["val_accuracy"]) <= 1
    low, median, high = (float(row[k]) for k in ("latency_low_ms", "latency_ms",
                                                 "latency_high_ms"))
    assert 0 < low <= median <= high < 50
    stored = json.loads((directory / "latency.json").read_text())
    assert stored["measured"] == 1 and stored["latencies"]["wrn-10-1"]["runs"] == 50
    assert len(os.listdir(cache)) == 1
    assert main(argv) == 0  # the same search again: everything from the cache and the state
    out = capsys.readouterr().out
    assert "measured 0 candidates in 0.0 s, 1 from the cache; 0 over 50 ms" in out
    assert "[tune] trial" not in out  # and nothing trained
    # a limit below the measured latency trains nothing and names the fastest
    assert main(argv[:argv.index("50")] + ["0.001"] + argv[argv.index("50") + 1:]) == 2
    assert "--max-latency-ms 0.001 admits none of the 1 configurations" in \
        capsys.readouterr().err
    # the export of the best trial, timed as the search timed it
    assert main(["export", str(directory), "--quantize", "int8", "--calibration-samples", "8",
                 "--no-verify", "--out", str(tmp_path / "best.tflite")]) == 0
    out = capsys.readouterr().out
    best = json.loads((directory / "best.json").read_text())["latency"]
    searched = f"{best['median_ms']:.3f} ms [{best['low_ms']:.3f}, {best['high_ms']:.3f}]"
    assert f"latency (search) {searched} per image (int8, 1 thread, LiteRT, batch 1)" in out
    assert "latency (file)" in out and "timed alike" in out
    text = tuning.results_table(directory, figure=False)
    assert next(csv.reader(io.StringIO(text)))[7:10] == ["latency_ms", "latency_low_ms",
                                                         "latency_high_ms"]
