#!/usr/bin/env bash
# The accelerator's evidence in one command on one GPU (H100 or H200),
# sized to end within --budget_s (default 480 s, compiling included), with
# whatever finished packed into --out even when a part runs out of time:
# the ResNet-50 HCSC step (pairs/s, ms/step, MFU), k-means of ImageNet's
# size on the GPU, then HCSC and MoCo v2 pre-trained on Fashion-MNIST for
# the epochs the time left allows, each evaluated by kNN and logistic at
# 1%, 10% and 100% of the labels (hcsc_jax/benchmark/evidence.py).
#
#   bash launch/gpu_bundle.sh                      # here: wheels and data
#   bash launch/gpu_evidence.sh --out=$OUT         # there (carry .whl, .bundle)
#   bash launch/gpu_evidence.sh --dry_run --out=<folder>   # tiny, on the CPU
#   python -m hcsc_jax.benchmark.evidence --table=<returned folder>   # here
#
# Options: --out=<folder> (required), --budget_s=<s>, --work=<scratch>,
# --data_dir=<idx folder> (default: launch/gpu_host.sh's choice).
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/gpu_host.sh

dry_run=() out="" budget=480 work=/tmp/hcsc_evidence data="$fashion_mnist_dir"
for arg in "$@"; do
  case "$arg" in
    --dry_run) dry_run=(--dry_run) ;;
    --out=*) out="${arg#*=}" ;;
    --budget_s=*) budget="${arg#*=}" ;;
    --work=*) work="${arg#*=}" ;;
    --data_dir=*) data="${arg#*=}" ;;
    *) echo "error: gpu_evidence.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ]; then
  echo "error: gpu_evidence.sh: give --out=<folder> (on the device: --out=\$OUT)" >&2
  exit 2
fi
if [ "${#dry_run[@]}" -gt 0 ]; then
  export JAX_PLATFORMS=cpu
fi
exec "$python" -m hcsc_jax.benchmark.evidence "${dry_run[@]}" "--out=$out" \
  "--budget_s=$budget" "--work=$work" "--data_dir=$data"
