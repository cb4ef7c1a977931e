"""The example notebooks: well formed, and each one runs end to end in smoke mode.

Smoke mode (``-p smoke True``) uses tiny models, a few steps, the offline digits set or
tensorflow-datasets' mock data, and no network. Each notebook writes
``<output_dir>/results.json``; the checks below read what it measured.
"""

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = ["01_wide_resnet_cifar10.ipynb", "02_budget_search.ipynb", "03_deploy_tflite.ipynb",
         "04_transfer_learning.ipynb", "05_segmentation_deeplab.ipynb"]


def _read(name):
    return nbformat.read(EXAMPLES / name, as_version=4)


def test_the_five_notebooks_exist():
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_parametrised_and_clean(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters' for papermill"
    assert "smoke = False" in tagged[0].source, "full size by default, smoke mode by -p smoke True"
    assert "output_dir = " in tagged[0].source
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors, "committed outputs must come from a run that succeeded"
    if any(c.get("outputs") for c in notebook.cells if c.cell_type == "code"):
        text = json.dumps([c.get("outputs") for c in notebook.cells if c.cell_type == "code"])
        assert '\\"cpu\\"' in text and '\\"gpus\\"' in text, \
            "stored outputs must include the Environment cell's hardware record"


def _check_01(r):
    assert 0.0 <= r["test_accuracy"] <= 1.0
    assert r["saved_model_max_abs_diff"] < 1e-4
    assert r["tflite_max_abs_error"] < 1e-4
    assert r["tflite_top1_agreement"] >= 0.95
    assert r["tflite_size_bytes"] > 0


def _check_02(r):
    assert r["trials"] == r["completed_trials"] == 2
    assert r["best_config"] in r["feasible_configs"]
    assert 90_000 <= r["best_params"] <= 100_000       # the smoke budget, 100k, tolerance 0.1
    assert r["pareto_front"] and set(r["pareto_front"]) <= set(r["feasible_configs"])
    assert r["tflite_max_abs_error"] < 1e-4


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
    assert r["weights"] == "stand-in file"
    assert r["backbone_max_change_in_feature_extractor_mode"] == 0.0
    assert r["head_trainable_params"] == 2048 * 5 + 5        # tf_flowers: 5 classes
    assert r["fine_tune_trainable_params"] > r["head_trainable_params"]
    assert 0.0 <= r["val_accuracy"] <= 1.0


def _check_05(r):
    assert r["output_shape"] == [64, 64, 3]
    assert r["prediction_shape"] == [3, 64, 64]
    assert r["copied_layers"] == 40                           # ResNet-18: 20 convs, 20 BNs
    assert 0.0 <= r["pixel_accuracy"] <= 1.0 and 0.0 <= r["mean_iou"] <= 1.0


CHECKS = dict(zip(NAMES, (_check_01, _check_02, _check_03, _check_04, _check_05), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_smoke_mode(name, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill", reason="papermill is in the dev extra")
    pytest.importorskip("ipykernel", reason="ipykernel is in the dev extra")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")   # the kernel inherits this environment
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    output_dir = tmp_path / "run"
    papermill.execute_notebook(
        str(EXAMPLES / name), str(tmp_path / name),
        parameters={"smoke": True, "output_dir": str(output_dir)},
        kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["environment"]["smoke"] is True
    CHECKS[name](results)
