#!/usr/bin/env bash
# Run the tuning tests against each end of the supported keras-tuner range (setup.cfg:
# keras-tuner>=1.4.7,<1.5). Each version is installed, without dependencies, into a
# throwaway directory that shadows the venv's copy through PYTHONPATH (the test's
# subprocesses inherit it), so the venv itself is left as it is.
#
#   bash scripts/check_tuner_range.sh                        # 1.4.7 and 1.4.8, every test
#   TUNER_VERSIONS=1.4.7 bash scripts/check_tuner_range.sh -m "not slow"
#
# Arguments go to pytest (default: -p no:xdist). Needs network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
versions=${TUNER_VERSIONS:-"1.4.7 1.4.8"}
pytest_args=("$@")
if [ ${#pytest_args[@]} -eq 0 ]; then
  pytest_args=(-p no:xdist)
fi
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
for version in $versions; do
  rm -rf "${target:?}"/*
  echo "== keras-tuner $version"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$target" "keras-tuner==$version"
  PYTHONPATH="$target" .venv/bin/python -c "import keras_tuner; \
assert keras_tuner.__version__ == '$version', (keras_tuner.__version__, keras_tuner.__file__)"
  PYTHONPATH="$target" .venv/bin/python -m pytest tests/test_tuning.py -q "${pytest_args[@]}"
done
echo "== keras-tuner $versions: tuning tests passed"
