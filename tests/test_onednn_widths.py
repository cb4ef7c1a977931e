"""Every width trains on every batch size: TensorFlow's oneDNN gradient of a strided 1x1
convolution corrupted the heap with fewer than 16 input channels and an odd batch, which
killed ``train wrn-16-0.9`` and ``tune --mode iso`` on the partial last batch
(docs/onednn-crash.md). The library's strided 1x1 convolutions subsample, then convolve."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from keras_resnets import count_params, create_model
from keras_resnets.layers import SubsampledConv2D

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
for _tuner_variable in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
    ENV.pop(_tuner_variable, None)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("size, strides, padding", [(32, 2, "same"), (31, 2, "valid"),
                                                    (31, 3, "same"), (32, 3, "valid")])
def test_subsampled_conv_is_the_strided_conv(size, strides, padding):
    inputs = np.random.default_rng(0).normal(size=(3, size, size, 14)).astype("float32")
    strided = keras.layers.Conv2D(29, 1, strides=strides, padding=padding, use_bias=True)
    subsampled = SubsampledConv2D(29, 1, strides=strides, padding=padding, use_bias=True)
    expected = keras.ops.convert_to_numpy(strided(inputs))
    subsampled.build(inputs.shape)
    subsampled.set_weights(strided.get_weights())
    got = keras.ops.convert_to_numpy(subsampled(inputs))
    assert got.shape == expected.shape == (3, -(-size // strides), -(-size // strides), 29)
    assert np.abs(got - expected).max() < 1e-5
    assert subsampled.get_config()["strides"] == (strides, strides)


@settings(max_examples=6, deadline=None, derandomize=True, phases=[Phase.generate])
@given(width=st.integers(25, 190).map(lambda hundredths: hundredths / 100),  # >= min_width(16)
       batch=st.sampled_from([3, 5, 7]))
def test_fractional_width_trains_one_step_on_an_odd_batch(width, batch):
    name = f"wrn-10-{width:g}"
    model = create_model(name)  # 32x32x3 inputs: the crash needed maps of 24x24 or more
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == count_params(name).trainable  # the channels the counter counts
    projections = {"conv3_block1_0_conv": round(16 * width), "conv4_block1_0_conv": round(32 * width)}
    assert {layer.name for layer in model.layers if isinstance(layer, SubsampledConv2D)} \
        == {layer for layer, channels in projections.items() if channels < 16}
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  run_eagerly=True)
    rng = np.random.default_rng(batch)
    images = rng.normal(size=(batch, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, batch)
    probabilities = keras.ops.convert_to_numpy(model(images, training=True))
    expected = -np.log(probabilities[np.arange(batch), labels]).mean()
    loss = model.train_on_batch(images, labels)  # the loss before the update
    assert abs(float(loss) - expected) < 1e-4 * max(1.0, expected)


def _cli(code, tmp_path, name):
    """Run ``code`` (Python calling keras_resnets.cli.main) in its own process: a crash
    inside TensorFlow must fail the test, not kill the test runner."""
    done = subprocess.run([sys.executable, "-c", code], env=ENV, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{name}: exit {done.returncode}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_train_wrn_16_0_9_commands_finish(tmp_path):
    # The three commands (default, --no-jit-compile, --batch-size 64) on the whole
    # digits training split: last batches of 105, 105 and 41 images. One process runs all
    # three (they crashed with exit 134, 134 and 139).
    runs = [["train", "wrn-16-0.9", "--epochs", "1", "--dataset", "digits", *extra,
             "--run-dir", run_dir] for extra, run_dir in
            [([], "default"), (["--no-jit-compile"], "no_jit"), (["--batch-size", "64"], "batch_64")]]
    _cli(f"import sys; from keras_resnets.cli import main; "
         f"sys.exit(max(main(args) for args in {runs!r}))", tmp_path, "train wrn-16-0.9")
    for run_dir in ("default", "no_jit", "batch_64"):
        metrics = json.loads((tmp_path / run_dir / "metrics.json").read_text())
        assert metrics["epochs_recorded"] == 1
        assert 0.0 <= metrics["test_accuracy"] <= 1.0


@pytest.mark.slow
def test_tune_iso_search_trains_wrn_16_0_9(tmp_path):
    # The search died at its trial of wrn-16-0.9; here that trial alone, on 35
    # training images in batches of 32: a last batch of 3 (it crashed with exit 134).
    args = ["tune", "--family", "wrn", "--budget", "150k", "--mode", "iso", "--oracle", "grid",
            "--depths", "16", "--max-trials", "1", "--epochs", "1", "--recipe", "fast",
            "--dataset", "digits", "--batch-size", "32", "--train-split", "train[:35]",
            "--val-samples", "3", "--eager", "--dir", "search"]
    out = _cli(f"import sys; from keras_resnets.cli import main; sys.exit(main({args!r}))",
               tmp_path, "tune --mode iso")
    assert "wrn-16-0.9: params 143,809" in out and "(COMPLETED)" in out
