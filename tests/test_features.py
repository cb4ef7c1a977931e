"""Feature levels: out_indices refusals (counted, nothing built), and feature_info of a
features_only model loaded from a .keras file. (Every family's levels, picked by index
and by name and counted exactly, are in test_contract.py.)"""

import re

import pytest

import keras_resnets as kr


@pytest.mark.backend_agnostic
def test_feature_info_of_a_name():
    assert kr.feature_info("resnet50", out_indices=(-2, "c5")) == [
        {"name": "C4", "channels": 1024, "reduction": 16, "layer": "conv4_block6_out"},
        {"name": "C5", "channels": 2048, "reduction": 32, "layer": "conv5_block3_out"}]
    # a CIFAR net keeps full resolution in its stem: C2 is the 32x32 map
    assert [(f["name"], f["reduction"]) for f in kr.feature_info("resnet20")] == [
        ("C2", 1), ("C3", 2), ("C4", 4)]


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("out_indices, features_only", [
    ((1, 2), False), ((4,), True), ((-5,), True), (("C6",), True), ((1, "C3"), True),
    ((), True), (2, True), ((True,), True)])
def test_out_indices_refusals(out_indices, features_only):
    rule = ("out_indices picks feature levels, so it needs features_only=True"
            if not features_only else
            "out_indices must be a non-empty tuple of distinct level indices (0 to 3, or "
            "negative from the end) or names of resnet18's levels C2, C3, C4, C5; got "
            f"{out_indices!r} (e.g. out_indices=(1, 2, 3) or ('C3', 'C4', 'C5'))")
    with pytest.raises(ValueError, match=f"^{re.escape(rule)}"):
        kr.count_params("resnet18", features_only=features_only, out_indices=out_indices)


def test_feature_info_of_a_loaded_features_only_model(tmp_path):
    model = kr.create_model("resnet20", features_only=True, out_indices=("C3", "C4"))
    model.save(tmp_path / "backbone.keras")
    loaded = kr.load_model(tmp_path / "backbone.keras")
    assert kr.feature_info(loaded) == kr.feature_info(model) == [
        {"name": "C3", "channels": 32, "reduction": 2, "layer": "conv3_block3_out"},
        {"name": "C4", "channels": 64, "reduction": 4, "layer": "conv4_block3_out"}]
    with pytest.raises(ValueError, match="feature_info needs a registered name or a model "
                                         "built by keras_resnets"):
        kr.feature_info(loaded.layers[1])
