#!/usr/bin/env bash
# Set everything up, then run the whole test suite (TensorFlow backend) on all cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" --durations=15 "$@"
