#!/usr/bin/env bash
# Sets up (idempotently) and runs the test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh test
export JAX_PLATFORMS=cpu
exec "${HCSC_VENV:-.venv}/bin/python" -m pytest -q tests "$@"
