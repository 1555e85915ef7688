#!/usr/bin/env bash
# The GPU checks of issues #3 and #5 in one prepared run, for a session lent a GPU machine.
#
# Here, once:   ../shared/tools/device-data        (packs MNIST into the ignored .device-data/)
# Device run:   carry [".device-data"], command:   bash tools/gpu_check.sh
#
# Runs, most wanted first, each under what is left of GPU_CHECK_SECONDS (default 540, to fit
# one 10-minute device call): the speed benchmark (course loop against the textbook loop,
# issue #5); the WGAN-GP with k-means clusters trained four times longer than its CPU budget
# and measured along the way (does it reach a classifier score of 9?); the cluster DCGAN on
# seed 0 (seeds 0 to 4 ran on a CPU: this gives its CUDA time and a CUDA figure to set beside
# the CPU one). Each log goes to $OUT (the device tool's folder
# that comes back) or runs/gpu_check/. A step that runs out of time is cut and says so; the
# figures it printed stay in its log. SMOKE_TEST=1 runs the same steps at smoke size (a CPU
# check of this script).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -d .device-data/MNIST/raw ]; then
  for f in .device-data/MNIST/raw/*.gz; do gunzip -kf "$f"; done
  export COURSE_DATA_DIR="$PWD/.device-data"
fi
out="${OUT:-runs/gpu_check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python="${PYTHON:-python3}"
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-540}))

step() {  # step NAME COMMAND...: run it under the time left, its output in $out/NAME.txt
  local name="$1" left=$((deadline - SECONDS))
  shift
  if [ "$left" -lt 20 ]; then
    echo "== $name: skipped, ${left} s left" | tee -a "$out/summary.txt"
    return
  fi
  echo "== $name ($left s left): $*" | tee -a "$out/summary.txt"
  timeout "$left" "$@" >"$out/$name.txt" 2>&1
  local rc=$?
  tr '\r' '\n' <"$out/$name.txt" | grep -v "it/s\]\|batch/s\]" | grep -E "device|score|images/s|x |seed|^[a-z-]+:" |
    tail -n 40 | tee -a "$out/summary.txt"
  [ "$rc" -eq 124 ] && echo "   (cut at the time limit)" | tee -a "$out/summary.txt"
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && echo "   (failed, exit $rc)" | tee -a "$out/summary.txt"
  return 0
}

{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; } |
  tee "$out/summary.txt"
speed_size=()
[ "${SMOKE_TEST:-0}" = 1 ] && speed_size=(--steps 2 --warmup 1 --rounds 1)
step speed "$python" benchmarks/speed.py --batch 128 512 "${speed_size[@]}"
step wgan_gp_clusters "$python" benchmarks/gan_mnist.py --model wgan-gp-clusters \
  --set steps=6000 --during 4
step gan_clusters_cuda "$python" benchmarks/gan_mnist.py --model gan-clusters --seeds 0
echo "== done, $((deadline - SECONDS)) s of the budget left" | tee -a "$out/summary.txt"
