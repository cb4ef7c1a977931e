#!/usr/bin/env bash
# Run on THIS machine (it has TensorFlow and PyPI) before a GPU session: writes .gpu/
# (ignored by git; name it in the device run's carry), about 20 MiB:
#   .gpu/wheels/  what the GPU image lacks (it has JAX with CUDA, numpy, scikit-learn,
#                 matplotlib, h5py, rich, ... but no Keras, Keras Tuner or papermill:
#                 /work/.library/device/KINDS.md lists it), at the versions of .venv,
#                 for CPython 3.12 on x86-64;
#   .gpu/digits.npz  the offline digits splits (the GPU image has no TensorFlow to make them).
# Usage: bash scripts/gpu_prepare.sh; then on the device: bash scripts/gpu_session.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exclude="$(git rev-parse --git-common-dir)/info/exclude"
grep -qx "/.gpu/" "$exclude" || echo /.gpu/ >> "$exclude"
PACKAGES="keras namex optree keras-tuner kt-legacy papermill nbclient nbformat
  jupyter_client jupyter_core ipykernel ipython ipython_pygments_lexers traitlets comm
  matplotlib-inline nest-asyncio2 pyzmq tornado prompt_toolkit wcwidth jedi parso
  pexpect ptyprocess stack-data executing asttokens pure_eval fastjsonschema jsonschema
  jsonschema-specifications referencing rpds-py entrypoints tenacity platformdirs debugpy==1.8.22"
rm -rf .gpu/wheels && mkdir -p .gpu/wheels
for name in $PACKAGES; do   # NAME: the version in .venv; NAME==VERSION: that one
  [[ $name == *==* ]] || name="$name==$(.venv/bin/python -c \
    "import importlib.metadata as m; print(m.version('$name'))")"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .gpu/wheels "$name"
done
TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH=$PWD .venv/bin/python -c \
  "from keras_resnets.accelerator import save_digits_splits; save_digits_splits('.gpu/digits.npz')"
echo "$(ls .gpu/wheels | wc -l) wheels; $(du -sh .gpu | cut -f1) in .gpu"
