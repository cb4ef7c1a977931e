"""Bad arguments drawn by hypothesis for every registered model name: each is refused by
our own checks (a ValueError or TypeError raised in keras_resnets, never deep in Keras or
TensorFlow), before any layer is built, and the counters refuse exactly what
``create_model`` refuses, with the same message."""

import traceback
from pathlib import Path

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_resnets as kr

PACKAGE = Path(kr.__file__).parent
NAMES = kr.list_models()


def _not_an_activation(value):
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        return True
    return False


def _sizes(bad):
    """A (height, width, channels) triple with ``bad`` in a random place."""
    good = st.sampled_from([32, 64, 224])
    return st.integers(0, 2).flatmap(
        lambda i: st.tuples(*(bad if j == i else good for j in range(3))))


NOT_BOOL = st.one_of(st.integers(), st.text(max_size=4), st.floats(), st.none())
BAD_ARGUMENTS = {
    "classes": st.one_of(st.booleans(), st.integers(max_value=0), st.floats(),
                         st.text(max_size=4)),
    "input_shape": st.one_of(
        _sizes(st.integers(max_value=0)),
        _sizes(st.one_of(st.text(max_size=3), st.floats(), st.booleans())),
        st.tuples(st.integers(32, 64), st.integers(32, 64)),
        st.tuples(*(st.integers(32, 64),) * 4),
        st.tuples(st.just(32), st.just(32), st.none()),
        st.integers(), st.text(max_size=4)),
    "include_top": NOT_BOOL,
    "features_only": NOT_BOOL.filter(lambda v: v is not None),
    "zero_init_residual": NOT_BOOL.filter(lambda v: v is not None),
    "remat": NOT_BOOL,
    "out_indices": st.one_of(st.integers(), st.text(max_size=3), st.just(()),
                             st.tuples(st.integers().filter(lambda v: not -4 <= v < 4)),
                             st.tuples(st.text(max_size=3)), st.tuples(st.floats())),
    "pooling": st.one_of(st.text(max_size=5).filter(lambda v: v not in ("avg", "max")),
                         st.integers(), st.booleans()),
    "drop_path_rate": st.one_of(st.floats().filter(lambda v: not 0 <= v < 1),
                                st.integers().filter(lambda v: v != 0), st.booleans(),
                                st.text(max_size=4)),
    "classifier_activation": st.one_of(st.text(max_size=8).filter(_not_an_activation),
                                       st.integers(), st.floats()),
    "name": st.one_of(st.integers(), st.just(""), st.booleans()),
}
UNKNOWN_OPTION = st.from_regex(r"zz_[a-z]{1,6}", fullmatch=True)


def refusal(call, model_name, kwargs):
    """The exception ``call`` raises, checked to come from our code; its (type, message)."""
    with pytest.raises((ValueError, TypeError)) as info:
        call(model_name, **kwargs)
    last = traceback.extract_tb(info.tb)[-1]
    assert PACKAGE in Path(last.filename).parents, (
        f"{call.__name__}({model_name!r}, {kwargs!r}) raised {info.value!r} "
        f"from {last.filename}:{last.lineno}")
    return type(info.value), str(info.value)


def assert_refused_alike(model_name, kwargs):
    built = refusal(kr.create_model, model_name, kwargs)
    assert refusal(kr.count_params, model_name, kwargs) == built
    assert refusal(kr.count_macs, model_name, kwargs) == built
    return built


PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@PROPERTY
@given(model_name=st.sampled_from(NAMES),
       argument=st.data())
def test_bad_keras_arguments_refused_by_our_checks_alike(model_name, argument):
    key = argument.draw(st.sampled_from(sorted(BAD_ARGUMENTS)), label="argument")
    value = argument.draw(BAD_ARGUMENTS[key], label="value")
    kind, message = assert_refused_alike(model_name, {key: value})
    assert kind is ValueError and key in message


@PROPERTY
@given(model_name=st.sampled_from(NAMES), option=UNKNOWN_OPTION,
       value=st.one_of(st.integers(), st.text(max_size=3), st.none()))
def test_unknown_options_listed(model_name, option, value):
    kind, message = assert_refused_alike(model_name, {option: value})
    assert issubclass(kind, ValueError)
    assert f"does not take {option}" in message and "options are" in message
