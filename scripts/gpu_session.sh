#!/usr/bin/env bash
# The GPU session of issue 29 as one command, on the device machine (JAX with CUDA, no
# TensorFlow), from the repo root, with .gpu (scripts/gpu_prepare.sh) carried:
#
#   bash scripts/gpu_session.sh        # all steps, BUDGET_S (530 s) in all, into $OUT
#   SMOKE=1 HIDE_TF=1 bash scripts/gpu_session.sh   # dry run on a CPU: tiny settings,
#                                      # TensorFlow hidden as on the GPU image
#
# Steps, most wanted first, each under `timeout` (min of its cap and the time left, less
# what the later steps are promised), so one failure or overrun loses only itself:
# install the carried wheels; notebooks 01 and 04 (papermill, JAX backend: GPU settings
# picked by the notebooks); time to 98.5% on digits; bench_gpu --part loops (saves after
# each case); profile_gpu (where WRN-28-10's bf16 step time goes); notebook 02 (JAX, arrays).
# $OUT gets at most 8 files (the device tool's limit): steps.tsv (step, exit code,
# seconds, limit), executed notebooks 01 and 04, time_to_accuracy.json, gpu_loops.json,
# profile.json, notebook 01's .keras model and logs.tar.gz (every step's log, the
# notebooks' output_dir, executed notebook 02 and the profile's perfetto_trace.json.gz;
# models left out). The reserves promise install 70 s, probe 20, nb01 110, nb04 110, tta
# 60, loops 80, profile 60 and nb02 20: 530 in all. loops and profile share a JAX
# compilation cache: profile's step (WRN-28-10, bf16, batch 128) is loops' first case.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_session_out}
SMOKE=${SMOKE:-0}
PY=${PYTHON:-python3}
WORK=$(mktemp -d) JAX_CACHE=$(mktemp -d)
mkdir -p "$OUT" "$WORK/logs"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
export PYTHONPATH=$PWD${HIDE_TF:+:$PWD/scripts/hide_tensorflow}
DIGITS=$PWD/.gpu/digits.npz
if [[ $SMOKE == 1 ]]; then
  BUDGET_S=${BUDGET_S:-2400}; NB=(-p smoke True); BENCH=(--smoke); CAP=600
else
  BUDGET_S=${BUDGET_S:-530}; NB=(); BENCH=(); CAP=0
fi
END=$((SECONDS + BUDGET_S))
printf "step\texit\tseconds\tlimit\n" > "$OUT/steps.tsv"

step() {  # step NAME CAP_S RESERVE_S COMMAND...: log in $WORK/logs/NAME.log
  local name=$1 cap=$2 reserve=$3; shift 3
  (( CAP > 0 )) && cap=$CAP
  local left=$((END - SECONDS - reserve)) start=$SECONDS rc
  local limit=$(( cap < left ? cap : left ))
  if (( limit < 15 )); then
    printf "%s\tskipped\t0\t%s\n" "$name" "$limit" >> "$OUT/steps.tsv"; return
  fi
  timeout -k 10 "$limit" "$@" > "$WORK/logs/$name.log" 2>&1; rc=$?
  printf "%s\t%s\t%s\t%s\n" "$name" "$rc" "$((SECONDS - start))" "$limit" >> "$OUT/steps.tsv"
  echo "[gpu_session] $name: exit $rc after $((SECONDS - start)) s (limit $limit s)"
  tail -3 "$WORK/logs/$name.log"
}

papermill() {  # papermill NAME [DIR]: the command running notebook NAME into DIR ($OUT): PM
  PM=("$PY" -m papermill "examples/$1.ipynb" "${2:-$OUT}/$1.ipynb" -k python3 --cwd "$WORK"
      -p output_dir "$WORK/$1" "${NB[@]}")
}

if [[ -d .gpu/wheels && $SMOKE != 1 ]]; then
  step install 70 460 "$PY" -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
step probe 30 440 bash -c "nvidia-smi -L; \"$PY\" -c 'import jax, keras; print(jax.devices(), \
  keras.__version__, keras.backend.backend())'"
papermill 01_wide_resnet_cifar10; step nb01 110 330 "${PM[@]}" -p digits_file "$DIGITS"
papermill 04_transfer_learning; step nb04 110 220 "${PM[@]}" -p digits_file "$DIGITS"
step tta 60 160 "$PY" benchmarks/bench_time_to_accuracy.py "${BENCH[@]}" \
  --digits-file "$DIGITS" --out "$OUT/time_to_accuracy.json"
step loops 220 80 env JAX_COMPILATION_CACHE_DIR="$JAX_CACHE" \
  "$PY" benchmarks/bench_gpu.py --part loops "${BENCH[@]}" --out "$OUT/gpu_loops.json"
step profile 60 20 env JAX_COMPILATION_CACHE_DIR="$JAX_CACHE" \
  "$PY" benchmarks/profile_gpu.py "${BENCH[@]}" --trace-dir "$WORK/profile_trace" \
  --out "$OUT/profile.json"
papermill 02_budget_search "$WORK"; step nb02 120 0 "${PM[@]}" -p digits_file "$DIGITS"
cp "$WORK"/01_wide_resnet_cifar10/*.keras "$OUT"/ 2>/dev/null
tar -czf "$OUT/logs.tar.gz" --exclude='*.keras' --exclude='*.h5' --exclude='*.xplane.pb' \
  --exclude='*.trace.json.gz' -C "$WORK" .   # the trace: perfetto_trace.json.gz alone
column -t "$OUT/steps.tsv" 2>/dev/null || cat "$OUT/steps.tsv"
ls -la "$OUT"
