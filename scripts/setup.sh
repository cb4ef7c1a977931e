#!/usr/bin/env bash
# Create .venv (if missing) and install keras_resnets with every extra. Idempotent: when
# .venv already satisfies every requirement of setup.cfg (with the extras asked for)
# and imports keras_resnets, nothing is installed (no network needed).
#
#   bash scripts/setup.sh                       # extras all and dev
#   EXTRAS=all,dev,torch bash scripts/setup.sh  # also the PyTorch reference tests' extra
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export EXTRAS=${EXTRAS:-all,dev}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if .venv/bin/python - <<'CHECK' 2>/dev/null; then
import configparser
import os
from importlib.metadata import version

from packaging.requirements import Requirement

config = configparser.ConfigParser()
config.read("setup.cfg")
extras = config["options.extras_require"]
lines = config["options"]["install_requires"].splitlines()
for extra in os.environ["EXTRAS"].split(","):
    lines += extras[extra].splitlines()
for line in filter(None, (text.strip() for text in lines)):
    requirement = Requirement(line)
    assert requirement.specifier.contains(version(requirement.name), prereleases=True), line
import keras_resnets  # noqa: E402,F401
CHECK
  exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# setuptools warns about every editable install (a boxed banner); the build runs in a
# subprocess that inherits PYTHONWARNINGS, which silences exactly that warning.
PYTHONWARNINGS="ignore:Editable installation" \
  .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
