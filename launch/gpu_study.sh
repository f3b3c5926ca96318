#!/usr/bin/env bash
# The seeds study on one GPU, in one command: HCSC and MoCo v2, 3 seeds each,
# on configs/fashion_mnist_long.py shortened to --epochs (default 20), the
# runs sharing the GPU as --parallel processes (default 3, each with an
# equal share of its memory), k-means on the GPU (no faiss), the in-memory
# input (no TensorFlow), then the study table with label fractions and the
# random-init and raw-pixel rows:
#
#   bash launch/gpu_study.sh [--workdir=workdirs/gpu_study] [--epochs=20]
#       [--parallel=3] [--seeds=3] [--nobaselines] [--protocols=<list>]
#       [--config.<field>=<value> ...]
#   bash launch/gpu_study.sh --dry_run [...]   # tiny, on the CPU (tests)
#
# Each run is an ordinary resumable workdir under <workdir>/<variant>/
# seed_<s>/: rerunning the command resumes what is unfinished and skips
# what is done. Logs: <workdir>/logs/. Table: <workdir>/study.md.
# On a bare GPU host, carry what `bash launch/gpu_bundle.sh` gathers (.whl,
# .bundle); --nobaselines leaves out the random-init and raw-pixel rows
# (known: results/fashion_mnist_study). Sizing: not yet measured on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0 workdir=workdirs/gpu_study epochs=20 parallel=3 seeds=3
protocols=knn,knn@1%,knn@10%,linear@1%,linear@10%,linear
extra=()
for arg in "$@"; do
  case "$arg" in
    --dry_run) dry_run=1 ;;
    --workdir=*) workdir="${arg#*=}" ;;
    --epochs=*) epochs="${arg#*=}" ;;
    --parallel=*) parallel="${arg#*=}" ;;
    --seeds=*) seeds="${arg#*=}" ;;
    --protocols=*) protocols="${arg#*=}" ;;
    --config.*|--nobaselines) extra+=("$arg") ;;
    *) echo "error: gpu_study.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

source launch/gpu_host.sh  # wheels from .whl/, the idx folder
manual_dir=("--config.data.manual_dir=$fashion_mnist_dir")
for arg in "${extra[@]}"; do
  case "$arg" in --config.data.manual_dir=*) manual_dir=() ;; esac
done
config=configs/fashion_mnist_long.py
if [ "$dry_run" = 1 ]; then
  config=configs/fashion_mnist_long.py:smoke
  epochs=2 parallel=2 seeds=2
  export JAX_PLATFORMS=cpu
else
  "$python" -c 'import jax, sys; d = jax.devices(); print("devices:", d)
sys.exit(0 if d[0].platform == "gpu" else "error: gpu_study.sh needs a GPU (jax sees " + str(d) + "); --dry_run runs on the CPU.")'
  # Each process takes an equal share of the GPU's memory instead of 75%.
  export XLA_PYTHON_CLIENT_MEM_FRACTION
  XLA_PYTHON_CLIENT_MEM_FRACTION=$("$python" -c "print(round(0.9 / $parallel, 2))")
fi
study=(-m hcsc_jax.study "--config=$config" "--workdir=$workdir"
       "--seeds=$seeds" --variants=hcsc,mocov2 "--protocols=$protocols"
       "--config.epochs=$epochs" --config.eval_every=0
       --config.visualize_every=0 "${manual_dir[@]}" "${extra[@]}")
mkdir -p "$workdir/logs"
export PYTHONUNBUFFERED=1
start=$(date +%s)
pids=() names=()
for seed in $(seq 0 $((seeds - 1))); do
  for variant in hcsc mocov2; do
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do sleep 1; done
    log="$workdir/logs/${variant}_seed${seed}.log"
    echo "gpu_study: $variant seed $seed -> $log"
    "$python" "${study[@]}" "--only=$variant:$seed" >"$log" 2>&1 &
    pids+=($!) names+=("$variant seed $seed ($log)")
  done
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "error: gpu_study.sh: ${names[$i]} failed; see its log, then rerun to resume." >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1
unset XLA_PYTHON_CLIENT_MEM_FRACTION
echo "gpu_study: runs done in $(( $(date +%s) - start )) s; evaluating the baselines and tabulating"
"$python" "${study[@]}" 2>"$workdir/logs/table.log"
echo "gpu_study: wall $(( $(date +%s) - start )) s; table in $workdir/study.md"
