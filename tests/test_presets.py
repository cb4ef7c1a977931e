"""Presets: what the directory holds, the hf:// handle through huggingface_hub's own cache,
and the refusals. (The bit-exact round trip of every kind of network is in
test_contract.py.)"""

import json
import os

import numpy as np
import pytest

import keras_resnets as kr
from keras_resnets.weights import hashes

NAME = "resnet20"  # 32x32 CIFAR net: a second to build


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """A tuned-looking resnet20 (10 classes, custom BN statistics), saved as a preset."""
    model = kr.create_model(NAME, classifier_activation=None, name="tuned",
                            drop_path_rate=0.1)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") + (w.name == "moving_variance")
                       for w in model.weights])
    directory = tmp_path_factory.mktemp("presets") / "tuned-resnet20"
    names = [f"class {i}" for i in range(10)]
    kr.save_preset(model, directory, class_names=names, preprocessing="timm/a1_in1k")
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    return directory, np.asarray(model(x)), x, names


def test_directory_holds_readable_config_and_checked_weights(preset):
    directory, _, _, names = preset
    assert sorted(os.listdir(directory)) == ["config.json", "model.weights.h5"]
    config = json.loads((directory / "config.json").read_text())
    assert config["model_name"] == NAME
    assert config["options"] == {"classifier_activation": None, "name": "tuned",
                                 "drop_path_rate": 0.1, "input_shape": [32, 32, 3]}
    assert config["class_names"] == names
    # 269,722 trainable: the figure usually quoted for ResNet-20 (option A shortcuts)
    assert config["parameters"] == kr.count_params(NAME).total == 271098
    # timm's a1 recipe: bicubic, 224 / 0.95 -> 236 pixels, crop 224, ImageNet mean and std
    assert config["preprocessing"] == {
        "resize": 236, "crop": 224, "interpolation": "bicubic", "antialias": True,
        "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "channels": "rgb"}
    assert config["weights_sha256"] == hashes.sha256_of(directory / "model.weights.h5")


def test_loads_with_its_name_class_names_and_preprocessing_and_saves_again(preset, tmp_path):
    directory, logits, x, names = preset
    model = kr.create_model(str(directory))
    assert model.name == "tuned" and model.keras_resnets_preset.class_names == tuple(names)
    np.testing.assert_array_equal(np.asarray(model(x)), logits)
    assert kr.preprocessing(str(directory)).layers[0].size == 236
    kr.save_preset(model, tmp_path / "again")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    first = json.loads((directory / "config.json").read_text())
    assert {k: v for k, v in again.items() if k != "weights_sha256"} == \
        {k: v for k, v in first.items() if k != "weights_sha256"}


def _cache_repo(cache, repo_id, directory, commit="0123456789abcdef0123456789abcdef01234567"):
    """Lay ``directory`` out in a Hugging Face cache as huggingface_hub does: blobs named by
    their SHA-256 (what the Hub reports as an LFS file's ETag), the snapshot's files
    relative symlinks to them, refs/main holding the commit."""
    from huggingface_hub.file_download import repo_folder_name

    root = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    (root / "blobs").mkdir(parents=True)
    (root / "snapshots" / commit).mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)
    for name in os.listdir(directory):
        blob = hashes.sha256_of(directory / name)
        (root / "blobs" / blob).write_bytes((directory / name).read_bytes())
        os.symlink(os.path.join("..", "..", "blobs", blob), root / "snapshots" / commit / name)


def test_hf_handle_resolves_offline_from_the_hugging_face_cache(preset, tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    directory, logits, x, _ = preset
    cache = tmp_path / "hub"
    _cache_repo(cache, "someone/tuned-resnet20", directory)
    # huggingface_hub's own reading of the cache sees a complete repo at revision main
    info = huggingface_hub.scan_cache_dir(cache)
    (repo,) = info.repos
    assert repo.repo_id == "someone/tuned-resnet20" and not info.warnings
    assert {f.file_name for f in next(iter(repo.revisions)).files} == {
        "config.json", "model.weights.h5"}
    # what HF_HOME=<tmp> HF_HUB_OFFLINE=1 set when huggingface_hub is imported
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    model = kr.create_model("hf://someone/tuned-resnet20")
    np.testing.assert_array_equal(np.asarray(model(x)), logits)
    with pytest.raises(ValueError, match=r"^cannot load preset 'hf://someone/absent' from the "
                                         r"Hugging Face Hub or its local cache: [^\n]*$"):
        kr.create_model("hf://someone/absent")


def test_refusals(preset, tmp_path):
    directory, _, _, _ = preset
    with pytest.raises(ValueError, match="a preset brings its own weights"):
        kr.create_model(str(directory), weights="imagenet")
    with pytest.raises(ValueError, match=r"reads 'hf://owner/repo'; got 'hf://no-owner'"):
        kr.create_model("hf://no-owner")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in os.listdir(directory):
        (damaged / name).write_bytes((directory / name).read_bytes())
    data = bytearray((damaged / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of one weight changed
    (damaged / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model.weights.h5' fails its SHA-256 check"):
        kr.create_model(str(damaged))
    import keras

    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="save_preset needs a model built by keras_resnets"):
        kr.save_preset(plain, tmp_path / "plain")
