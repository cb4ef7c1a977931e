"""The weights catalogue, weights= tags and URLs offline, preprocessing and decoding,
the v1.5 names and the stage-stride option (no PyTorch needed)."""

import numpy as np
import pytest
from keras.applications import imagenet_utils

import keras_resnets
from keras_resnets import weights as W
from keras_resnets.models.resnet import resnet_spec
from keras_resnets.weights import catalogue, keras_files

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: refused at once, no network needed


def test_every_record_names_a_registered_model_and_complete_facts():
    records = catalogue.all_records()
    # keras, torchvision v1 (ResNets, DenseNets; InceptionV3), timm a1, torchvision v2,
    # timm's legacy_xception and resnetv2_50
    assert len(records) == 12 + 13 + 1 + 6 + 5 + 2
    for record in records:
        keras_resnets.get_spec(record.model)
        assert record.url.startswith("https://")
        assert record.source in ("keras.applications", "torchvision", "timm")
        assert (record.keras_mode is None) == (record.layout == "torch")
        assert record.input_size in (224, 299) and record.resize >= record.input_size
    tv2 = catalogue.records("resnet50-v1.5")["torchvision/imagenet1k_v2"]
    assert (tv2.top1, tv2.params, tv2.resize) == (80.858, 25557032, 232)
    assert tv2.url == ("https://huggingface.co/timm/resnet50.tv2_in1k/resolve/main/"
                       "model.safetensors")
    assert tv2.origin == "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"


def test_source_parameter_counts_match_our_counter():
    for record in catalogue.all_records():
        if record.params is not None:
            assert keras_resnets.count_params(record.model, **dict(record.options)).trainable \
                == record.params, record.model


def test_model_info_lists_the_weights():
    assert keras_resnets.model_info("resnet50-v1.5")["weights"] == [
        "timm/a1_in1k", "torchvision/imagenet1k_v1", "torchvision/imagenet1k_v2"]
    assert keras_resnets.model_info("densenet121")["weights"] == [
        "keras/imagenet", "torchvision/imagenet1k_v1"]
    assert keras_resnets.model_info("wrn-28-10")["weights"] == []


def test_a_tag_offline_names_the_url_and_the_local_file_way(monkeypatch):
    record = catalogue.records("resnet18")["torchvision/imagenet1k_v1"]
    monkeypatch.setitem(catalogue.CATALOGUE["resnet18"], record.tag,
                        catalogue.dataclasses.replace(record, url=UNREACHABLE + "r18.safetensors"))
    with pytest.raises(ValueError, match=r"could not download http://127\.0\.0\.1:9/"
                                         r"r18\.safetensors .*weights='/path/to/"
                                         r"resnet18\.torchvision-imagenet1k_v1\.safetensors'"):
        keras_resnets.create_model("resnet18", weights="torchvision/imagenet1k_v1",
                                   input_shape=(32, 32, 3))


def test_imagenet_offline_names_the_url(monkeypatch, tmp_path):
    monkeypatch.setattr(keras_files, "KERAS_URL", UNREACHABLE)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match=r"could not download http://127\.0\.0\.1:9/resnet/"
                                         r"resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5"):
        keras_resnets.ResNet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))


def test_a_tag_of_another_architecture_is_refused_with_the_right_name():
    with pytest.raises(ValueError, match=r"published for .*resnet50-v1\.5.*, not for 'resnet50'"):
        keras_resnets.create_model("resnet50", weights="timm/a1_in1k")
    with pytest.raises(ValueError, match=r"needs classes=1000; got classes=10"):
        keras_resnets.create_model("resnet18", weights="timm/a1_in1k", classes=10)


def test_bad_weights_argument_lists_every_accepted_form():
    with pytest.raises(ValueError, match=r"catalogue tag such as 'torchvision/imagenet1k_v1', a "
                                         r"URL or the path .* got 'timm/no_such_tag'"):
        keras_resnets.ResNet18(weights="timm/no_such_tag")


def test_preprocess_input_matches_keras_and_the_sources_mean_std():
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(keras_resnets.preprocess_input(x, "resnet50"),
                                  imagenet_utils.preprocess_input(x.copy(), mode="caffe"))
    np.testing.assert_array_equal(keras_resnets.preprocess_input(x, "xception"),
                                  x / 127.5 - 1.0)
    np.testing.assert_array_equal(keras_resnets.preprocess_input(x, "densenet121"),
                                  imagenet_utils.preprocess_input(x.copy(), mode="torch"))
    torch_style = keras_resnets.preprocess_input(x, "resnet50-v1.5", "timm/a1_in1k")
    expected = (x / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(torch_style, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"not published for model 'wrn-28-10' \(its weights: "
                                         r"none\)"):
        keras_resnets.preprocess_input(x, "wrn-28-10")


def test_decode_predictions_uses_keras_class_index(monkeypatch):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    from keras.src.applications import imagenet_utils as source  # where Keras caches it

    monkeypatch.setattr(source, "CLASS_INDEX", index)
    scores = np.zeros((1, 1000), "float32")
    scores[0, [7, 3]] = 0.9, 0.1
    assert keras_resnets.decode_predictions(scores, top=2) == [
        [("n00000007", "class_7", pytest.approx(0.9)), ("n00000003", "class_3",
                                                        pytest.approx(0.1))]]


def test_v15_names_are_listed_and_close_names_suggested_across_families():
    assert keras_resnets.list_models("*v1*") == ["resnet50-v1.5", "resnet101-v1.5",
                                                 "resnet152-v1.5"]
    spec = keras_resnets.get_spec("resnet50-v1.5")
    assert spec.block_options.stride_in == "3x3"
    with pytest.raises(ValueError, match=r"6n\+4 .*did you mean .*'wide-resnet50-2'"):
        keras_resnets.create_model("wrn-50-2")


def test_stride_at_end_places_each_stages_stride():
    keras_v2 = keras_resnets.get_spec("resnet50v2")
    timm_v2 = resnet_spec(50, version=2, stride_at_end=False)
    assert keras_v2.stride_at_end and not timm_v2.stride_at_end
    assert keras_v2.keras_weights == "resnet50v2" and timm_v2.keras_weights is None
    model = keras_resnets.ResNet(50, version=2, stride_at_end=False, input_shape=(64, 64, 3))
    assert model.get_layer("conv3_block1_out").output.shape[1:3] == (8, 8)
    with pytest.raises(ValueError, match="stride_at_end"):
        keras_resnets.ResNet(50, version=2, stride_at_end="first")


def test_keras_weight_file_checks_still_refuse_tags_and_missing_files():
    spec = keras_resnets.get_spec("wrn-16-4")
    with pytest.raises(ValueError, match=r"no published ImageNet weights for 'wrn-16-4'"):
        W.resolve(spec, "imagenet", include_top=True, classes=10,
                  spec_of=keras_resnets.get_spec)


def test_the_docs_table_lists_every_record():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "weights.md").read_text()
    for record in catalogue.all_records():
        top1 = f"{record.top1:g}" if record.top1 is not None else "n/a"
        assert f"| `{record.model}` | `{record.tag}` | {record.source} | {top1} |" in page, \
            (record.model, record.tag)
