"""The example notebooks: well formed, their stored outputs from real runs, and each one
runs end to end in smoke mode.

Each notebook prints its results as JSON in its last cell (and writes
``<output_dir>/results.json``). The stored outputs come from real CPU runs on offline
data; ``test_stored_results_*`` read them from the ``.ipynb`` and check the numbers the
notebooks claim. Smoke mode (``-p smoke True``) uses tiny models, a few steps and no
network; ``test_notebook_runs_in_smoke_mode`` runs it and checks what it can promise.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from keras_resnets.examples_data import SHAPE_CLASSES, digits_subset, shapes

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = ["01_wide_resnet_cifar10.ipynb", "02_budget_search.ipynb", "03_deploy_tflite.ipynb",
         "04_transfer_learning.ipynb", "05_segmentation_deeplab.ipynb"]
# TensorFlow / absl C++ log lines, and absolute paths of the machine that ran a notebook.
NOISE = re.compile(r"(^|\n)[IWEF]\d{4} |oneDNN custom operations|cudart_stub|"
                   r"absl::InitializeLog|Could not find cuda drivers|XNNPACK delegate|"
                   r"fully_quantize: |INFO:tensorflow:")
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(work|tmp|root|home|Users|private|var)/")


def _read(name):
    return nbformat.read(EXAMPLES / name, as_version=4)


def _code_cells(notebook):
    return [c for c in notebook.cells if c.cell_type == "code"]


def _output_text(notebook):
    """Every stored text output (streams and text/plain data) joined."""
    parts = []
    for cell in _code_cells(notebook):
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                parts.extend(v for k, v in output.data.items() if k.startswith("text/"))
    return "\n".join(parts)


def stored_results(name):
    """The results JSON printed by the notebook's last cell."""
    last = _code_cells(_read(name))[-1]
    text = "".join(o.text for o in last.get("outputs", [])
                   if o.output_type == "stream" and o.name == "stdout")
    assert text.strip(), f"{name}: the last cell has no stored output (run the notebook)"
    return json.loads(text)


def test_the_five_notebooks_exist():
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_parametrised_and_clean(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters' for papermill"
    assert "smoke = False" in tagged[0].source, "real run by default, smoke mode by -p smoke True"
    assert "output_dir = " in tagged[0].source
    assert not re.search(r'output_dir = "/', tagged[0].source), "a relative output_dir"
    errors = [o for c in _code_cells(notebook) for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors, "committed outputs must come from a run that succeeded"
    text = _output_text(notebook)
    assert '"cpu"' in text and '"gpus"' in text, \
        "stored outputs must include the Environment cell's hardware record"
    noise = NOISE.search(text)
    assert not noise, f"TensorFlow log noise in the stored outputs: {text[noise.start():][:120]!r}"
    path = ABSOLUTE_PATH.search(text)
    assert not path, f"an absolute path in the stored outputs: {text[path.start():][:120]!r}"
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "GPU" in markdown and "papermill" in markdown, "say how to run the GPU version"


# --- the stored outputs: real runs, real numbers -------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_stored_outputs_come_from_a_real_run(name):
    results = stored_results(name)
    assert results["environment"]["smoke"] is False
    assert results["environment"]["cpu"] and "gpus" in results["environment"]
    assert results["notebook_time_s"] > 0


def test_stored_results_01_wide_resnet_reaches_98_percent():
    r = stored_results(NAMES[0])
    assert r["model"].startswith("wrn-")
    assert r["test_accuracy"] >= 0.98
    assert r["test_examples"] >= 300
    assert r["saved_model_max_abs_diff"] < 1e-4
    assert r["tflite_max_abs_error"] < 1e-4 and r["tflite_top1_agreement"] >= 0.95


def test_stored_results_02_search_explores_six_configurations():
    r = stored_results(NAMES[1])
    accuracies = r["trial_accuracies"]
    assert r["completed_trials"] >= 6 and len(accuracies) >= 6
    assert set(accuracies) <= set(r["feasible_configs"])
    assert all(0.0 < a <= 1.0 for a in accuracies.values())
    assert r["best_config"] in accuracies
    assert r["best_val_accuracy"] == pytest.approx(max(accuracies.values()))
    assert r["pareto_front"] and set(r["pareto_front"]) <= set(accuracies)


def test_stored_results_02_latency_search_trains_only_the_fast_networks():
    r = stored_results(NAMES[1])["latency_search"]
    latencies, limit = r["latencies_ms"], r["max_latency_ms"]
    assert set(latencies) == set(stored_results(NAMES[1])["feasible_configs"])
    assert all(latency > 0 for latency in latencies.values())
    assert set(r["trained"]) == {key for key, ms in latencies.items() if ms <= limit}
    assert 0 < len(r["trained"]) < len(latencies)  # the limit dropped some, kept some
    assert r["winners"]["parameter budget"]["config"] in latencies
    assert max(r["trial_accuracies"].values()) == pytest.approx(
        next(w["val_accuracy"] for name, w in r["winners"].items() if name.endswith(" ms")))


def test_stored_results_03_int8_keeps_the_float32_accuracy():
    r = stored_results(NAMES[2])
    files = {row["file"]: row for row in r["files"]}
    assert list(files) == ["float32", "float16", "int8"]
    assert r["keras_accuracy"] >= 0.9 and r["eval_samples"] >= 300
    assert abs(files["float32"]["accuracy"] - r["keras_accuracy"]) <= 0.005
    assert abs(files["float16"]["accuracy"] - files["float32"]["accuracy"]) <= 0.01
    assert files["int8"]["accuracy"] >= files["float32"]["accuracy"] - 0.03
    assert files["int8"]["size_kib"] < files["float16"]["size_kib"] < files["float32"]["size_kib"]
    assert all(row["latency_ms"] > 0 for row in files.values())


def test_stored_results_04_fine_tuning_beats_training_from_scratch():
    r = stored_results(NAMES[3])
    accuracy = r["accuracy"]
    assert set(accuracy) == {"frozen features", "fine-tuned", "from scratch"}
    assert accuracy["fine-tuned"] > accuracy["from scratch"]
    assert r["source_test_accuracy"] >= 0.9
    assert r["backbone_max_change_in_feature_extractor_mode"] == 0.0
    assert r["target_test_examples"] >= 100


def test_stored_results_05_segmentation_reaches_mean_iou_08():
    r = stored_results(NAMES[4])
    assert r["dataset"] == "shapes"
    assert r["mean_iou"] >= 0.8
    assert r["mean_iou"] == pytest.approx(np.mean(list(r["per_class_iou"].values())))
    assert r["test_examples"] >= 100


# --- the shapes generator -------------------------------------------------------------


def test_shapes_are_deterministic_and_labelled():
    images, masks = shapes(12, size=32, seed=3)
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    assert masks.shape == (12, 32, 32) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= set(range(len(SHAPE_CLASSES)))
    assert (masks > 0).any(axis=(1, 2)).all(), "every image holds a shape"
    again, again_masks = shapes(12, size=32, seed=3)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(masks, again_masks)
    assert not np.array_equal(masks, shapes(12, size=32, seed=4)[1])
    with pytest.raises(ValueError, match="count must be"):
        shapes(0)


def test_digits_subset_relabels_and_draws_per_class():
    labels = np.repeat(np.arange(10), 20)
    images = np.arange(len(labels))
    x, y = digits_subset(images, labels, classes=range(5, 10), per_class=3, seed=0)
    assert len(x) == 15 and sorted(np.bincount(y)) == [3] * 5
    np.testing.assert_array_equal(labels[x], y + 5)
    with pytest.raises(ValueError, match="per_class"):
        digits_subset(images, labels, classes=[1], per_class=21)


# --- smoke mode: each notebook end to end, tiny ----------------------------------------


def _check_01(r):
    assert r["model"] == "wrn-10-1"
    assert 0.0 <= r["test_accuracy"] <= 1.0
    assert r["saved_model_max_abs_diff"] < 1e-4
    assert r["tflite_max_abs_error"] < 1e-4
    assert r["tflite_top1_agreement"] >= 0.95
    assert r["tflite_size_bytes"] > 0
    assert r["images_per_s"] > 0 and r["device"] == r["environment"]["device"]


def _check_02(r):
    assert r["trials"] == r["completed_trials"] == 2
    assert r["best_config"] in r["feasible_configs"]
    assert 90_000 <= r["best_params"] <= 100_000       # the smoke budget, 100k, tolerance 0.1
    assert r["pareto_front"] and set(r["pareto_front"]) <= set(r["feasible_configs"])
    assert all(0.0 <= a <= 1.0 for a in r["trial_accuracies"].values())
    assert r["tflite_max_abs_error"] < 1e-4
    latency = r["latency_search"]  # one network timed, within its own latency
    assert latency["trained"] == list(latency["latencies_ms"]) == ["wrn-10-1.14"]
    assert latency["latencies_ms"]["wrn-10-1.14"] > 0


def _check_03(r):
    files = {row["file"]: row for row in r["files"]}
    assert list(files) == ["float32", "float16", "int8"]
    assert files["float32"]["max_abs_error"] < 1e-4
    assert files["float32"]["top1_agreement"] >= 0.95
    assert abs(files["float32"]["accuracy"] - r["keras_accuracy"]) <= 0.01
    assert files["int8"]["size_kib"] < files["float16"]["size_kib"] < files["float32"]["size_kib"]
    for row in files.values():
        assert 0.0 <= row["accuracy"] <= 1.0 and row["latency_ms"] > 0


def _check_04(r):
    assert r["source"] == "digits" and r["backbone"] == "resnet8"
    assert r["backbone_max_change_in_feature_extractor_mode"] == 0.0
    assert r["head_trainable_params"] == 64 * 5 + 5          # ResNet-8 features, 5 classes
    assert r["fine_tune_trainable_params"] > r["head_trainable_params"]
    assert r["target_train_examples"] == 50                  # 10 labels of each of 5-9
    assert r["source_batch_size"] == 64 and r["device"] == r["environment"]["device"]
    assert 0.0 <= r["source_test_accuracy"] <= 1.0
    assert all(0.0 <= a <= 1.0 for a in r["accuracy"].values())


def _check_05(r):
    assert r["dataset"] == "shapes" and r["copied_layers"] == 0
    assert r["output_shape"] == [64, 64, 4]
    assert r["prediction_shape"] == [4, 64, 64]
    assert 0.0 <= r["pixel_accuracy"] <= 1.0 and 0.0 <= r["mean_iou"] <= 1.0
    assert list(r["per_class_iou"]) == list(SHAPE_CLASSES)


CHECKS = dict(zip(NAMES, (_check_01, _check_02, _check_03, _check_04, _check_05), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_smoke_mode(name, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill", reason="papermill is in the dev extra")
    pytest.importorskip("ipykernel", reason="ipykernel is in the dev extra")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")   # the kernel inherits this environment
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    output_dir = tmp_path / "run"
    papermill.execute_notebook(
        str(EXAMPLES / name), str(tmp_path / name),
        parameters={"smoke": True, "output_dir": str(output_dir)},
        kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["environment"]["smoke"] is True
    CHECKS[name](results)
