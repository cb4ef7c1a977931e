"""The command line as a user meets it: help with defaults, errors in its own words,
a start without TensorFlow, output fit for a log, custom layers registered lazily."""

import io
import json
import os
import re
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import cli
from keras_resnets.cli import export as cli_export
from keras_resnets.cli.words import command_line_words
from keras_resnets.training.progress import EpochLines, progress_output

HEAVY = ("tensorflow", "keras", "jax")


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env}, check=False)


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["info", "resnet50"], ["--version"]])
def test_help_list_and_info_import_no_tensorflow_keras_or_jax(argv):
    result = _run(f"""
import json, sys
from keras_resnets.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))
""")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [], result.stdout
    assert result.stderr == ""


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"keras-resnets {keras_resnets.__version__}"


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_option_shows_its_default(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = capsys.readouterr().out
    assert "examples:\n  keras-resnets " + command in text
    description = text.split("\n\n")[1]
    assert len(description) > 40 and not description.startswith(("positional", "options"))
    parser = cli.build_parser({command})
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    # each option's entry: its line, and the help on the next line for a long invocation
    entries = re.findall(r"^  (-\S+.*(?:\n {6,}\S.*)?)", text, flags=re.MULTILINE)
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = max(action.option_strings, key=len)
        entry = next(e for e in entries if re.match(rf"(-\w, )?{flag}(?![\w-])", e))
        assert action.help, f"{command} {flag} has no help"
        if action.nargs != 0 and not action.required:
            assert "default" in entry, f"{command} {flag} does not show its default: {entry}"


@pytest.mark.parametrize("message, expected", [
    ("no configuration; or use mode='iso'", "no configuration; or use --mode iso"),
    ("download=False, but dataset 'cifar10' is not prepared in data_dir '/x'; pass "
     "data_dir=DIR, or allow download=True",
     "--no-download, but dataset 'cifar10' is not prepared in --data-dir '/x'; pass "
     "--data-dir DIR, or drop --no-download"),
    ("pass overwrite=True (--overwrite) to start the run over",
     "pass --overwrite to start the run over"),
    ("copy DIR here and pass data_dir=DIR (--data-dir DIR)",
     "copy DIR here and pass --data-dir DIR"),
    ("batch_size must not exceed the 1257 training examples",
     "--batch-size must not exceed the 1257 training examples"),
    ("unknown model name 'x'. See keras_resnets.list_models()",
     "unknown model name 'x'. See `keras-resnets list`"),
    ("epochs must be an integer >= 1; got 0", "--epochs must be an integer >= 1; got 0"),
])
def test_errors_are_translated_to_flags(message, expected):
    parser = cli.build_parser({"train", "tune"})
    subs = next(a for a in parser._actions if a.dest == "command").choices
    sub = subs["tune"] if "mode" in message else subs["train"]
    assert command_line_words(message, sub) == expected


def test_a_library_error_reaches_the_terminal_in_flags(capsys):
    assert cli.main(["tune", "--family", "wrn", "--budget", "1.5M", "--mode", "iso",
                     "--widths", "2,4", "--list"]) == 2
    err = capsys.readouterr().err
    assert "--widths apply to --mode grid; --mode iso" in err and "mode='" not in err


def test_export_argument_errors_come_before_any_model(capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded or built before the arguments were checked")

    monkeypatch.setattr(cli_export, "load_source", no_model)
    assert cli.main(["export", "resnet20", "--quantize", "int8"]) == 2
    err = capsys.readouterr().err
    assert "--quantize int8 needs" in err and "--calibration" in err
    assert cli.main(["export", "runs/demo", "--out", "x.onnx"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--out must end with .tflite" in captured.err


def test_custom_layers_load_after_a_bare_import(tmp_path):
    """``import keras_resnets`` imports no Keras, yet a model with the package's custom
    layers loads with plain ``keras.saving.load_model`` when Keras comes afterwards."""
    inputs = keras.Input((8, 8, 16))
    outputs = keras_resnets.layers.ChannelPadShortcut(32, 2)(inputs)
    path = tmp_path / "pad.keras"
    keras.Model(inputs, outputs).save(path)
    result = _run(f"""
import sys
import keras_resnets
assert "keras" not in sys.modules
import keras
model = keras.saving.load_model({str(path)!r})
print(type(model.layers[-1]).__name__, model.output.shape)
""", KERAS_BACKEND="numpy")  # the lightest backend: the test is about registration
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "ChannelPadShortcut"


def test_public_api_resolves_lazily():
    assert keras_resnets.WideResNet.__name__ == "WideResNet"
    assert keras_resnets.blocks.BLOCK_KINDS and keras_resnets.layers.StochasticDepth
    for module in (keras_resnets, keras_resnets.tuning):
        for name in module.__all__:  # each name resolves, to an object of that name
            value = getattr(module, name)
            assert getattr(value, "__name__", name) == name, (module.__name__, name)
    assert {"ResNet50", "create_model", "build_model", "DeepLabV3"} <= set(keras_resnets.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        keras_resnets.Nope  # noqa: B018


def test_epoch_lines_fit_a_log():
    stream = io.StringIO()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((32, 4), "float32"), np.zeros((32,), "int32")
    verbose, callbacks = progress_output("auto", stream=stream)
    assert verbose == 0 and isinstance(callbacks[0], EpochLines)
    model.fit(x, y, epochs=3, batch_size=8, verbose=verbose, callbacks=callbacks)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all(re.fullmatch(r"epoch \d/3  accuracy \S+  loss \S+  .*\d s", line)
               for line in lines), lines
    assert not re.search(r"[\r\b\x1b]", stream.getvalue())


def test_heartbeat_only_during_the_first_epoch():
    stream = io.StringIO()
    lines = EpochLines(heartbeat_s=0.02, stream=stream)
    lines.params = {"epochs": 2, "steps": 10}
    lines.on_train_begin()
    for epoch in range(2):
        lines.on_epoch_begin(epoch)
        lines.on_train_batch_end(0)
        time.sleep(0.15)
        lines.on_epoch_end(epoch, {"loss": 1.0})
    text = stream.getvalue().splitlines()
    beats = [line for line in text if "step 1/10" in line]
    assert beats and all(line.startswith("epoch 1/2") for line in beats)
    assert text[-1].startswith("epoch 2/2  loss 1")


def test_a_terminal_keeps_keras_progress_bar():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert progress_output("auto", stream=Terminal()) == ("auto", [])
    assert progress_output(2, stream=io.StringIO()) == (2, [])
