#!/usr/bin/env bash
# Sets up (idempotently) and runs the test suite on the CPU; arguments go
# to pytest (a file, `-k <name>`), else every test under tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh test
export JAX_PLATFORMS=cpu
# Byte-code is written as modules are first imported (setup installs none),
# so the many test subprocesses compile each module once, not each time.
unset PYTHONDONTWRITEBYTECODE
# The 20 slowest tests are listed at the end: where the time goes.
exec "${HCSC_VENV:-.venv}/bin/python" -m pytest -q --durations=20 "$@"
