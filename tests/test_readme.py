"""The README and the getting-started page run as written.

Every fenced ``bash`` and ``python`` block of ``README.md`` and
``docs/getting-started.md`` runs unchanged, in document order, in a temporary directory
that holds a copy of ``scripts/`` and ``setup.cfg`` and the repository's ``.venv``
(linked): bash blocks in ``bash -e``, python blocks in one namespace per document (a
later snippet uses an earlier one's names). The README's blocks run in a fresh shell's
environment, with no venv active (a new user's first commands); the getting-started
page's run with the venv's ``bin`` first on ``PATH``, as its setup block activates it.
Only the blocks that install the package or run this test suite are skipped, and
they are listed in ``SETUP_BLOCKS``. The README's results are then checked as a user would
read them: the demo's held-out accuracy, its TFLite file against Keras, and the
exported files' accuracy in LiteRT.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", "docs/getting-started.md")
# (document, first line of the block): installation, and the test command itself.
SETUP_BLOCKS = {
    ("README.md", "bash scripts/test.sh"),
    ("README.md", 'pip install -e ".[all]"       # or pick extras: tuner, data, export, plot, dev'),
    ("docs/getting-started.md",
     "bash scripts/setup.sh            # creates .venv and installs the package with every extra"),
    ("docs/getting-started.md",
     'pip install -e ".[all]"          # or only the extras you need: tuner, data, export, '
     'plot, dev'),
}
FENCE = re.compile(r"^```(bash|python)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
DRIVER = textwrap.dedent("""
    import json, subprocess, sys

    namespace = {"__name__": "__main__"}
    for index, (language, code) in enumerate(json.load(open(sys.argv[1]))):
        print(f"--- block {index} ({language}):\\n{code}", flush=True)
        if language == "python":
            exec(compile(code, f"<block {index}>", "exec"), namespace)
        else:
            subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], check=True)
    print("--- all blocks ran", flush=True)
""")


def fenced_blocks(document):
    """``(language, code)`` of every fenced bash or python block, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer((ROOT / document).read_text())]


def is_setup(document, code):
    return (document, code.splitlines()[0]) in SETUP_BLOCKS


def test_only_the_listed_setup_blocks_are_skipped():
    found = {(d, code.splitlines()[0]) for d in DOCUMENTS for _, code in fenced_blocks(d)}
    assert SETUP_BLOCKS <= found, f"listed but not in the documents: {SETUP_BLOCKS - found}"
    for document in DOCUMENTS:
        run = [code for _, code in fenced_blocks(document) if not is_setup(document, code)]
        assert run, f"{document} has no block to run"
        assert not any(code.lstrip().startswith(("pip ", "bash scripts/setup.sh",
                                                 "bash scripts/test.sh")) for code in run)


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_document_runs_as_written(document, tmp_path):
    blocks = [b for b in fenced_blocks(document) if not is_setup(document, b[1])]
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    os.symlink(ROOT / ".venv", tmp_path / ".venv")
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {name: value for name, value in os.environ.items()
           if name not in ("VIRTUAL_ENV", "TF_CPP_MIN_LOG_LEVEL")}
    path = [p for p in env.get("PATH", "").split(os.pathsep)
            if p and os.path.realpath(p) != os.path.realpath(venv_bin)]
    if document != "README.md":  # docs/getting-started.md activates the venv first
        path.insert(0, venv_bin)
    env.update(PATH=os.pathsep.join(path), MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    done = subprocess.run([sys.executable, "-c", DRIVER, "blocks.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1400)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    assert "--- all blocks ran" in done.stdout
    if document == "README.md":
        check_readme_results(tmp_path, done.stdout)


def check_readme_results(directory, printed):
    """The demo reaches its documented accuracy; every exported file agrees with Keras."""
    demo = json.loads((directory / "runs" / "demo" / "demo.json").read_text())
    assert demo["model"] == "wrn-10-2" and demo["held_out_images"] == 360
    assert demo["held_out_accuracy"] >= 0.985, demo  # 20 epochs: 99.7% when documented
    tflite = demo["tflite"]
    assert tflite["input_dtype"] == "uint8" and tflite["samples"] == 360
    assert tflite["tflite_accuracy"] == tflite["keras_accuracy"] and tflite["max_abs_error"] < 1e-4
    # the demo's own report, `keras-resnets export runs/demo --raw-pixels`, then the tuned
    # model's int8 file from the command line and from Python
    lines = [line for line in printed.splitlines()
             if line.startswith("accuracy") and "on 360 held-out images" in line]
    accuracies = [[float(v) for v in re.findall(r"([\d.]+)%", line)] for line in lines]
    assert len(accuracies) == 4, printed[-4000:]
    assert "raw uint8 pixels; normalization in the model" in printed
    for keras_accuracy, tflite_accuracy in accuracies[:2]:
        assert keras_accuracy == tflite_accuracy
        assert keras_accuracy == pytest.approx(100 * demo["held_out_accuracy"], abs=0.3)
    for keras_accuracy, tflite_accuracy in accuracies[2:]:  # int8 against float32
        assert abs(tflite_accuracy - keras_accuracy) <= 3.0, lines
    for name in ("demo.tflite", "wrn-int8.tflite", "model.tflite"):
        assert (directory / name).stat().st_size > 10_000, name
