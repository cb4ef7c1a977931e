"""``keras-resnets list`` and ``info``."""

import pytest

from keras_resnets.cli import main

pytestmark = pytest.mark.backend_agnostic


def test_list_filters_by_pattern(capsys):
    assert main(["list", "resnext*"]) == 0
    assert capsys.readouterr().out.split() == [
        "resnext29-8x64d", "resnext29-16x64d", "resnext50-32x4d", "resnext101-32x4d",
        "resnext101-32x8d"]


def test_info_prints_counts_and_paper(capsys):
    assert main(["info", "wrn-28-10"]) == 0
    out = capsys.readouterr().out
    assert "36,479,194" in out and "5.243 G at 32x32" in out
    assert "Wide Residual Networks" in out and "4.00 / 19.25" in out


def test_info_of_keras_compatible_model(capsys):
    assert main(["info", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "25,636,712" in out and "yes (Keras's files)" in out


def test_unknown_name_is_a_clean_error(capsys):
    assert main(["info", "wrn-27-10"]) == 2
    assert "depth must be 6n+4" in capsys.readouterr().err
