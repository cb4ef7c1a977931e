"""Several processes training one model (JAX ``keras.distribution`` over
``jax.distributed``, gloo CPU collectives): two processes on 127.0.0.1 started by
``keras-resnets train --coordinator``, compared with one process holding two devices."""

import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_resnets.cli import main
from keras_resnets.training import multihost

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1",
       "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
TRAIN = ["train", "wrn-10-1", "--dataset", "digits", "--epochs", "2", "--batch-size", "128",
         "--strategy", "data_parallel", "--seed", "0"]
TIMEOUT_S = 420  # a hung collective fails the test instead of hanging CI


def _cli(*args):
    return [sys.executable, "-c", "import sys; from keras_resnets.cli import main; "
            "sys.exit(main())", *args]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _finish(processes):
    """Wait for every process (killing all at the first timeout); their outputs."""
    outputs = []
    try:
        for process in processes:
            out, _ = process.communicate(timeout=TIMEOUT_S)
            outputs.append(out)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, out in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out[-3000:]
    return outputs


def _run(run_dir):
    with open(os.path.join(run_dir, "history.json")) as f:
        history = json.load(f)
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    weights = keras.saving.load_model(os.path.join(run_dir, "last.keras")).get_weights()
    return history, metrics, weights


def _two_processes(run_dir, scratch, logs=None):
    """The two processes of one 2-process ``keras-resnets train`` into ``run_dir``."""
    port = _free_port()
    processes = []
    for i in range(2):
        out = open(logs[i], "w") if logs else subprocess.PIPE  # noqa: SIM115
        processes.append(subprocess.Popen(
            _cli(*TRAIN, "--run-dir", str(run_dir), "--coordinator", f"127.0.0.1:{port}",
                 "--num-processes", "2", "--process-id", str(i)),
            env={**ENV, "TMPDIR": str(scratch[i])}, cwd=REPO, stdout=out,
            stderr=subprocess.STDOUT, text=True))
    return processes


def _single_process_run(run_dir):
    """The reference: one process holding two devices, same global batch."""
    single = subprocess.Popen(
        _cli(*TRAIN, "--run-dir", str(run_dir)), cwd=REPO, text=True,
        env={**ENV, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _finish([single])
    return _run(run_dir)


def _kill_after_epoch_one(processes, log):
    """Kill every process once process 0 reports epoch 1 (its backup is written before),
    inside epoch 2."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while "epoch 1/2" not in log.read_text():
            assert time.monotonic() < deadline and processes[0].poll() is None, \
                log.read_text()[-3000:]
            time.sleep(0.1)
    finally:
        for process in processes:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_killed_two_process_run_resumes_to_one_process_with_two_devices(tmp_path):
    """Two processes, killed in epoch 2 and started again, end where one process holding
    two devices ends: the resume restores every process's state, and the processes
    together compute the single process's steps (same global batches, same reduction)."""
    ref_history, ref_metrics, ref_weights = _single_process_run(tmp_path / "single")
    run_dir = tmp_path / "multi"
    # each process's private directory, fresh for the second start (a killed process
    # leaves its files behind)
    killed = [tmp_path / f"killed{i}" for i in range(2)]
    scratch = [tmp_path / f"scratch{i}" for i in range(2)]
    for path in killed + scratch:
        path.mkdir()
    logs = [tmp_path / f"process{i}.log" for i in range(2)]
    _kill_after_epoch_one(_two_processes(run_dir, killed, logs), logs[0])
    assert not (run_dir / "metrics.json").exists()  # killed inside epoch 2
    outputs = _finish(_two_processes(run_dir, scratch))
    assert all("epoch 2/2" in out and "epoch 1/2" not in out for out in outputs)

    history, metrics, weights = _run(run_dir)
    assert (metrics["processes"], metrics["replicas"], ref_metrics["processes"]) == (2, 2, 1)
    # A resume that lost a batch, the optimizer's momentum or the augmentation's seeds
    # would move the weights by far more than float noise.
    diff = max(float(np.abs(a - b).max()) for a, b in zip(weights, ref_weights, strict=True))
    print(f"max abs weight difference, resumed 2 processes vs 1: {diff:.3g}")
    assert diff < 1e-5
    assert [r["epoch"] for r in history] == [1, 2]
    for row, ref in zip(history, ref_history, strict=True):
        for key in ("loss", "accuracy", "xent", "lr"):  # training, on the global batches
            assert row[key] == pytest.approx(ref[key], abs=1e-5), key
        for key in ("val_accuracy", "val_xent"):  # padded evaluation batches weigh 0
            assert row[key] == pytest.approx(ref[key], abs=1e-5), key
    for key in ("test_accuracy", "test_loss", "best_epoch"):
        assert metrics[key] == pytest.approx(ref_metrics[key], abs=1e-5), key
    assert history[-1]["accuracy"] > history[0]["accuracy"]  # it trained
    # Both processes report the run; only process 0 wrote, process 1's files are gone.
    assert all("run directory" in out and "keras-resnets train: error" not in out
               for out in outputs)
    assert sorted(os.listdir(run_dir)) == sorted(os.listdir(tmp_path / "single"))
    assert os.listdir(scratch[1]) == []


def test_multi_process_arguments_are_checked(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    check = multihost.check_processes
    assert check(None, None, None, "default") == 1
    assert check("127.0.0.1:1234", 2, 1, "data_parallel") == 2
    for args, pattern in [
            (("127.0.0.1:1234", 2, None),
             "go together .*got only coordinator='127.0.0.1:1234', num_processes=2$"),
            (("127.0.0.1", 2, 0), "coordinator must be HOST:PORT .*got '127.0.0.1'"),
            (("host:70000", 2, 0), "coordinator must be HOST:PORT"),
            (("127.0.0.1:1234", 0, 0), "num_processes must be an integer >= 1"),
            (("127.0.0.1:1234", 2, 2), r"process_id must be in 0..1 .*got 2"),
            (("127.0.0.1:1234", 2, -1), "process_id must be an integer >= 0")]:
        with pytest.raises(ValueError, match=pattern):
            check(*args, "data_parallel")
    with pytest.raises(ValueError, match="need strategy='data_parallel'; got strategy='default'"):
        check("127.0.0.1:1234", 2, 0, "default")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the TensorFlow refusal")
def test_tensorflow_backend_refuses_several_processes_with_the_upstream_reason(capsys):
    args = ["train", "wrn-10-1", "--strategy", "data_parallel", "--coordinator",
            "127.0.0.1:1234", "--num-processes", "2", "--process-id", "0", "--run-dir",
            "/tmp/unused"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("keras-resnets train: error: ")
    assert "need KERAS_BACKEND=jax" in err and "keras-team/keras#20585" in err
    assert "--strategy data_parallel" in err  # the command line's words
    assert main(args[:-6] + ["--num-processes", "2"]) == 2
    assert ("--coordinator, --num-processes and --process-id go together (e.g. --coordinator "
            "10.0.0.1:1234, --num-processes 2, --process-id 0); got only --coordinator "
            "127.0.0.1:1234, --num-processes 2") in capsys.readouterr().err


def test_evaluation_batches_are_padded_with_zero_weights():
    from keras_resnets import data

    dataset = data.load_dataset("digits", "validation", 128, augment=False)  # 180 images
    batches = list(multihost.padded_batches(dataset, 128, 180).as_numpy_iterator())
    assert [b[0].shape[0] for b in batches] == [128, 128]
    weights = np.concatenate([b[2] for b in batches])
    assert weights.sum() == 180 and not weights[180:].any() and weights[:180].all()
    images = np.concatenate([b[0] for b in batches])
    expected = np.concatenate([x for x, _ in dataset.as_numpy_iterator()])
    np.testing.assert_array_equal(images[:180], expected)
    assert not images[180:].any()
    # One process alone feeds whole batches.
    assert multihost.process_batches(dataset, 128, 2) is dataset
