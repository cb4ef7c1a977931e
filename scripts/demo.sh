#!/usr/bin/env bash
# Set everything up, then train, export and verify a Wide ResNet on the offline digits data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/keras-resnets demo "$@"
