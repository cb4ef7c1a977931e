"""``keras-resnets list`` and ``info``."""

import os
import subprocess
import sys

from keras_resnets.cli import main


def test_list_filters_by_pattern(capsys):
    assert main(["list", "resnext*"]) == 0
    assert capsys.readouterr().out.split() == [
        "resnext29-8x64d", "resnext29-16x64d", "resnext50-32x4d", "resnext101-32x4d",
        "resnext101-32x8d"]


def test_info_prints_counts_and_paper(capsys):
    assert main(["info", "wrn-28-10"]) == 0
    out = capsys.readouterr().out
    assert "36,479,194" in out and "5.243 G at 32x32" in out
    assert "Wide Residual Networks" in out
    assert ("paper test error (%)           CIFAR-10 4.00, CIFAR-100 19.25 "
            "(Zagoruyko & Komodakis 2016, Table 4, no dropout)") in out


def test_info_labels_imagenet_errors(capsys):
    assert main(["info", "densenet121"]) == 0
    assert "ImageNet top-1 25.02, ImageNet top-5 7.71 (Huang et al. 2017, Table 3" in \
        capsys.readouterr().out


def test_list_sorts_numbers_as_numbers(capsys):
    assert main(["list", "mobilenetv2-*"]) == 0
    assert capsys.readouterr().out.split() == [
        "mobilenetv2-0.35", "mobilenetv2-0.5", "mobilenetv2-0.75", "mobilenetv2-1.0",
        "mobilenetv2-1.3", "mobilenetv2-1.4"]


def test_every_paper_error_is_labelled_with_datasets_and_source():
    from keras_resnets import list_models, model_info

    labelled = [model_info(name) for name in list_models()]
    labelled = [info for info in labelled if info["paper_errors"]]
    assert len(labelled) >= 30
    for info in labelled:
        assert info["paper_errors_source"] and all(
            dataset.startswith(("CIFAR-10", "CIFAR-100", "SVHN", "ImageNet top-"))
            for dataset in info["paper_errors"]), info["name"]


def test_unknown_name_names_the_list_command_not_python(capsys):
    assert main(["info", "nosuchnet"]) == 2
    err = capsys.readouterr().err
    assert "`keras-resnets list`" in err and "list_models()" not in err


def test_info_of_keras_compatible_model(capsys):
    assert main(["info", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "25,636,712" in out and "yes (Keras's files)" in out


def test_unknown_name_is_a_clean_error(capsys):
    assert main(["info", "wrn-27-10"]) == 2
    assert "depth must be 6n+4" in capsys.readouterr().err


def test_list_into_a_closed_pipe_ends_quietly():
    """`keras-resnets list | head -1`: the reader leaves; no BrokenPipeError traceback,
    and the exit status is the shell's for a writer killed by SIGPIPE (128 + 13)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    done = subprocess.run([sys.executable, "-m", "keras_resnets.cli", "list"], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
