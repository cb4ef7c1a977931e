"""The registry guards itself: one family per name, one name per network."""

import re

import pytest

import keras_resnets as kr
from keras_resnets import families, registry  # registry: every family registered

pytestmark = pytest.mark.backend_agnostic


def test_a_family_name_registers_once():
    before = registry.find_family("resnet50")[0]
    with pytest.raises(ValueError, match=r"family name 'resnet' is already registered .*"
                                         r"give the family 'resnet-x\[0-9\]\+' its own name"):
        families.register_family("resnet", "resnet-x[0-9]+", None, ["resnet-x1"], "a paper")
    assert registry.find_family("resnet50")[0] is before
    assert "resnet-x1" not in kr.list_models()


def test_every_example_is_the_spec_of_its_own_name():
    names = kr.list_models()
    assert len(names) == 66
    for name in names:
        family, match = registry.find_family(name)
        assert re.fullmatch(family.pattern, name) and match.group(0) == name
        assert kr.get_spec(name).name == name, name
    # a catalogue key is a registry name, whose spec has that name
    for name in kr.weights.catalogue.CATALOGUE:
        assert kr.get_spec(name).name == name
