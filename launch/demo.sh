#!/usr/bin/env bash
# Sets up (idempotently) and runs the main job: HCSC pre-training on
# Fashion-MNIST (from Debian's dataset-fashion-mnist) on the CPU, followed by
# a weighted-kNN evaluation. Extra arguments go to hcsc_jax.main, e.g.
#   bash launch/demo.sh --config.epochs=2
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh runtime
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
exec "${HCSC_VENV:-.venv}/bin/python" -m hcsc_jax.main \
  --config=configs/fashion_mnist.py \
  --workdir="${HCSC_WORKDIR:-workdirs/fashion_mnist}" "$@"
