#!/usr/bin/env bash
# HCSC pre-training on a Cloud TPU pod slice: the same command on every
# worker (`--worker=all`); JAX finds its peers (HCSC_DISTRIBUTED=auto).
# TPUs have no faiss, so clustering uses the JAX backend.
#
#   bash launch/tpu_pod.sh <tpu-name> <zone> configs/hcsc_r50_imagenet.py \
#       gs://bucket/hcsc_r50 --config.data.data_dir=gs://bucket/tfds
#   DRY_RUN=1 bash launch/tpu_pod.sh <tpu-name> <zone> <config> <workdir>
#
# SETUP=1 first copies this checkout to every worker and runs
# launch/setup.sh there. Workdir and data must be in GCS (or shared).
set -euo pipefail
usage="usage: tpu_pod.sh <tpu-name> <zone> <config.py> <workdir> [--config.x=y ...]"
tpu=${1:?$usage}; zone=${2:?$usage}; config=${3:?$usage}; workdir=${4:?$usage}
shift 4
remote_dir=${HCSC_REMOTE_DIR:-hcsc_jax}
extra=$(printf ' %q' "$@")
run="cd $remote_dir && HCSC_DISTRIBUTED=auto TF_CPP_MIN_LOG_LEVEL=2 \
.venv/bin/python -m hcsc_jax.main --config=$config --workdir=$workdir \
--config.kmeans.backend=jax${extra}"
cmds=()
if [[ "${SETUP:-0}" == 1 ]]; then
  cmds+=("gcloud compute tpus tpu-vm scp --recurse $(cd "$(dirname "$0")/.." && pwd) $tpu:$remote_dir --zone=$zone --worker=all")
  cmds+=("gcloud compute tpus tpu-vm ssh $tpu --zone=$zone --worker=all --command='cd $remote_dir && bash launch/setup.sh && .venv/bin/pip install -q -U jax[tpu]'")
fi
cmds+=("gcloud compute tpus tpu-vm ssh $tpu --zone=$zone --worker=all --command='$run'")
for cmd in "${cmds[@]}"; do
  if [[ "${DRY_RUN:-0}" == 1 ]]; then
    echo "$cmd"
  else
    eval "$cmd"
  fi
done
