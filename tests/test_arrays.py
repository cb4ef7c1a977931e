"""keras_resnets.arrays, and the budgeted search on in-memory splits (no TensorFlow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_resnets.arrays import ArrayBatches, pixel_stats

ROOT = Path(__file__).resolve().parents[1]


def _images(count=24, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (count, size, size, 3)).astype("uint8"),
            np.arange(count) % 4)


def _batches(**options):
    x, y = _images()
    return ArrayBatches(x, y, 10, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), **options)


def test_array_batches_normalize_as_the_tf_pipeline():
    from keras_resnets.data import dataset_info, load_arrays, load_dataset

    info = dataset_info("digits")
    x, y = load_arrays("digits", "validation")
    images, labels = next(iter(load_dataset("digits", "validation", 64, augment=False,
                                            shuffle=False)))
    ours = ArrayBatches(x, y, 64, mean=info.mean, std=info.std)
    assert len(ours) == 3                                             # 180 images
    np.testing.assert_allclose(ours[0][0], images.numpy(), atol=1e-6)
    np.testing.assert_array_equal(ours[0][1], labels.numpy())


def test_pixel_stats_are_those_of_pixels_over_255():
    x, _ = _images()
    mean, std = pixel_stats(x)
    np.testing.assert_allclose(mean, (x / 255.0).mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(std, (x / 255.0).std(axis=(0, 1, 2)), rtol=1e-12)


def test_a_pass_is_a_permutation_drawn_from_seed_and_epoch():
    batches = _batches(shuffle=True, seed=3)
    first = np.concatenate([batches[i][1] for i in range(len(batches))])
    again = np.concatenate([batches[i][1] for i in range(len(batches))])
    batches.epoch = 1
    second = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert len(batches) == 3 and len(batches[2][1]) == 4              # 24 images by 10
    np.testing.assert_array_equal(first, again)
    assert sorted(first) == sorted(second) == sorted(np.arange(24) % 4)
    assert not np.array_equal(first, second)
    with pytest.raises(IndexError):
        batches[3]


def test_crops_are_windows_of_the_padded_image():
    plain, cropped = _batches(), _batches(augment="crop", seed=0)
    originals, crops = plain[0][0], cropped[0][0]
    padded = np.pad(originals, ((0, 0), (4, 4), (4, 4), (0, 0)))     # zeros: the mean colour
    shifts = []
    for image, crop in zip(padded, crops, strict=True):
        shifts += [(t, s) for t in range(9) for s in range(9)
                   if np.array_equal(image[t:t + 8, s:s + 8], crop)]
    assert len(shifts) == 10 and len(set(shifts)) > 1                # one window each, varied


def test_cutout_zeroes_one_clipped_square():
    plain, cut = _batches()[0][0], _batches(cutout=4, seed=0)[0][0]
    for before, after in zip(plain, cut, strict=True):
        changed = np.any(before != after, axis=-1)
        rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
        assert 2 <= len(rows) <= 4 and 2 <= len(cols) <= 4
        assert changed.sum() == len(rows) * len(cols)                 # a rectangle
        assert np.all(after[changed] == 0.0)


def test_smoothed_labels_are_one_hot_rows_that_sum_to_one():
    _, labels = _batches(label_smoothing=0.1)[0]
    assert labels.shape == (10, 4)
    np.testing.assert_allclose(labels.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(labels.argmax(1), np.arange(10) % 4)
    np.testing.assert_allclose(labels.max(1), 0.9 + 0.1 / 4, rtol=1e-6)


def test_bad_arrays_and_recipes_are_refused_before_anything_is_written(tmp_path):
    from keras_resnets.tuning import run_search

    x, y = _images()
    with pytest.raises(ValueError, match=r"\(N, height, width, channels\)"):
        ArrayBatches(x[0], y[:1], 4, mean=(0.5,), std=(0.5,))
    with pytest.raises(ValueError, match="class ids"):
        ArrayBatches(x, y + 0.5, 4, mean=(0.5,), std=(0.5,))
    search = dict(mode="iso", depths=[10], max_trials=1, epochs=1,
                  directory=str(tmp_path / "search"))
    with pytest.raises(ValueError, match=r"dict with keys \['train'\]"):
        run_search("wrn", "100k", dataset={"train": (x, y)}, **search)
    with pytest.raises(ValueError, match="recipe 'modern' augments batches in tf.data"):
        run_search("wrn", "100k", dataset={"train": (x, y), "validation": (x, y)},
                   recipe="modern", **search)
    with pytest.raises(ValueError, match="steps_per_execution must be"):
        run_search("wrn", "100k", dataset={"train": (x, y), "validation": (x, y)},
                   steps_per_execution=0, **search)
    assert not (tmp_path / "search").exists()


@pytest.mark.slow
def test_search_on_arrays_runs_on_jax_without_tensorflow(tmp_path):
    """The GPU image's path: JAX, TensorFlow absent. The best model (saved there with its
    input normalization) scores here, on TensorFlow, the test accuracy recorded there."""
    import keras

    from keras_resnets.accelerator import digits_splits, save_digits_splits

    save_digits_splits(str(tmp_path / "digits.npz"))
    code = f"""
import json, sys
from keras_resnets.accelerator import digits_splits
from keras_resnets.tuning import run_search
result = run_search("wrn", "100k", dataset=digits_splits({str(tmp_path / "digits.npz")!r}),
                    mode="iso", depths=[10], max_trials=1, epochs=1, batch_size=64,
                    recipe="fast", train_samples=256, val_samples=64, seed=0, verbose=0,
                    steps_per_execution=2,
                    directory={str(tmp_path / "search")!r})
print(json.dumps({{"best": result.best_model_path, "rows": result.rows,
                  "tensorflow": "tensorflow" in sys.modules}}, default=str))
"""
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "scripts" / "hide_tensorflow")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["tensorflow"] is False
    assert [row["config"] for row in report["rows"]] == ["wrn-10-1.14"]
    best = json.loads((Path(report["best"]).parent / "best.json").read_text())
    x, y = digits_splits()["test"]
    predicted = keras.saving.load_model(report["best"]).predict(x.astype("float32"), verbose=0)
    accuracy = float(np.mean(predicted.argmax(-1) == y))
    assert accuracy == pytest.approx(best["test_accuracy"], abs=2 / len(y))
    train_mean = digits_splits()["train"][0].mean(axis=(0, 1, 2)) / 255.0
    np.testing.assert_allclose(best["input_normalization"][0], train_mean, rtol=1e-5)
