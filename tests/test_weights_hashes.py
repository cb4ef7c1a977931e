"""Checked downloads: every catalogue file's hash, a mismatch refused in one line naming
the file, and KERAS_HOME read at each download. Files are made here; no network."""

import hashlib
import re

import pytest

from keras_resnets import weights
from keras_resnets.weights import IMAGENET, catalogue, hashes

pytestmark = pytest.mark.backend_agnostic


def test_every_catalogue_file_states_its_hash():
    for record in catalogue.all_records():
        if record.layout == "keras":
            files = IMAGENET[dict(catalogue._KERAS)[record.model][0]]
            # Keras publishes no MD5 for MobileNetV2's files (keras.applications has none)
            assert getattr(files, "top_md5", None) or record.model.startswith("mobilenetv2")
        elif record.source == "torchvision":
            # the Hub copy's SHA-256 is not published; torchvision's own file name carries one
            assert record.sha256 is None and re.fullmatch(r"[0-9a-f]{8}",
                                                          record.origin_sha256_prefix)
    assert catalogue.records("resnet50-v1.5")["torchvision/imagenet1k_v2"] \
        .origin_sha256_prefix == "11ad3fa6"


def test_torch_hub_prefix_as_torch_hub_reads_it():
    assert hashes.torch_hub_prefix("https://x/resnet50-19c8e357.pth") == "19c8e357"
    assert hashes.torch_hub_prefix("inception_v3_google-0cc3c7bd.pth") == "0cc3c7bd"
    assert hashes.torch_hub_prefix("resnet18-v1.pth") is None        # no hex, no hash
    assert hashes.torch_hub_prefix("model-abc.safetensors") is None  # under 8 hex digits


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return tmp_path / "keras-home"


def test_downloads_land_in_keras_home_and_are_checked(tmp_path, keras_home):
    data = b"not really a checkpoint\n" * 100
    digest = hashlib.sha256(data).hexdigest()
    good = tmp_path / f"net-{digest[:8]}.pth"
    good.write_bytes(data)
    path = weights.download(good.as_uri(), good.name)
    assert path == str(keras_home / "models" / good.name)
    bad = tmp_path / "net-0badf00d.pth"
    bad.write_bytes(data)
    message = (f"weights file '{keras_home / 'models' / 'net-0badf00d.pth'}' fails its SHA-256 "
               f"prefix check (expected 0badf00d, got {digest[:8]}): it is damaged or not the "
               "published file; delete it and download it again")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        weights.download(bad.as_uri(), bad.name)
    # a Keras file with its MD5, and a file with a published SHA-256
    md5 = hashlib.md5(data).hexdigest()
    assert weights.download(good.as_uri(), "keras.h5", md5).endswith("keras.h5")
    with pytest.raises(ValueError, match=r"keras2.h5' fails its MD5 check \(expected 0{32}"):
        weights.download(good.as_uri(), "keras2.h5", "0" * 32)
    with pytest.raises(ValueError, match=r"hub.safetensors' fails its SHA-256 check"):
        weights.download(good.as_uri(), "hub.safetensors", "f" * 64)
    assert weights.download(good.as_uri(), "hub2.safetensors", digest).endswith("hub2.safetensors")
