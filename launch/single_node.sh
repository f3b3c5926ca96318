#!/usr/bin/env bash
# HCSC pre-training on one machine with several GPUs: one process drives
# every local GPU (the batch is split over them).
#
#   bash launch/single_node.sh configs/hcsc_r50_imagenet.py /ckpt/hcsc_r50 \
#       --config.data.manual_dir=/data/imagenet_tars
#   DRY_RUN=1 bash launch/single_node.sh <config> <workdir>
#
# CUDA_VISIBLE_DEVICES picks the GPUs; rerunning resumes.
set -euo pipefail
config=${1:?usage: single_node.sh <config.py> <workdir> [--config.x=y ...]}
workdir=${2:?usage: single_node.sh <config.py> <workdir> [--config.x=y ...]}
shift 2
cd "$(dirname "$0")/.."
python="${HCSC_PYTHON:-.venv/bin/python}"
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_enable_latency_hiding_scheduler=true"
export TF_CPP_MIN_LOG_LEVEL=2
cmd=("$python" -m hcsc_jax.main "--config=$config" "--workdir=$workdir" "$@")
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  echo "GPUs: ${CUDA_VISIBLE_DEVICES:-all visible}, one process"
  echo "XLA_FLAGS=$XLA_FLAGS"
  echo "${cmd[*]}"
  exit 0
fi
exec "${cmd[@]}"
