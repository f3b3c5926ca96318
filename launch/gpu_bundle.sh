#!/usr/bin/env bash
# Gathers what a bare GPU host lacks into two ignored folders of this
# checkout, so that the checkout alone runs there (launch/gpu_host.sh
# installs and finds them):
#   .whl/                    ml-collections and clu as pure-Python wheels
#                            for Python 3.12 (the GPU host's), pinned
#   .bundle/fashion-mnist/   the four Fashion-MNIST idx files (Debian's
#                            dataset-fashion-mnist, or --data=<folder>)
# and checks that the checkout plus both stay under the 64 MiB a device
# call carries (printing the size).
#
#   bash launch/gpu_bundle.sh [--data=<idx folder>] [--no_wheels]
#       [--into=<folder>]   (default: this checkout; tests use another)
set -euo pipefail
cd "$(dirname "$0")/.."

data=/usr/share/datasets/fashion-mnist wheels=1 limit_mib=64 into=.
for arg in "$@"; do
  case "$arg" in
    --data=*) data="${arg#*=}" ;;
    --no_wheels) wheels=0 ;;
    --into=*) into="${arg#*=}" ;;
    *) echo "error: gpu_bundle.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
# Versions the GPU host takes; their dependencies (absl-py, PyYAML, etils,
# wrapt, packaging, typing-extensions, flax, jax) are there already.
pins=(ml_collections==1.1.0 clu==0.0.12)
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
for name in "${files[@]}"; do
  if [ ! -f "$data/$name" ]; then
    echo "error: gpu_bundle.sh: $data/$name is missing; apt-get install" \
         "dataset-fashion-mnist, or pass --data=<folder holding the four" \
         "idx .gz files>." >&2
    exit 2
  fi
done
mkdir -p "$into/.bundle/fashion-mnist"
for name in "${files[@]}"; do
  cp "$data/$name" "$into/.bundle/fashion-mnist/"
done
if [ "$wheels" = 1 ]; then
  python="${HCSC_PYTHON:-python3}"
  [ -z "${HCSC_PYTHON:-}" ] && [ -x .venv/bin/python ] && python=.venv/bin/python
  rm -rf "$into/.whl" && mkdir -p "$into/.whl"
  "$python" -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation py --abi none --platform any \
    -d "$into/.whl" "${pins[@]}"
fi
# What a device call carries: tracked files, untracked files git does not
# ignore, and the two carried folders.
size=$( { git ls-files -z --cached --others --exclude-standard
          find "$into/.whl" "$into/.bundle" -type f -print0 2>/dev/null \
            || true; } | { du -cb --files0-from=- 2>/dev/null || true; } \
        | tail -1 | cut -f1)
mib=$(( (size + 1048575) / 1048576 ))
echo "gpu_bundle: $(ls "$into/.whl" 2>/dev/null | tr '\n' ' ')and" \
     ".bundle/fashion-mnist; checkout plus bundle: $mib MiB of $limit_mib"
if [ "$mib" -gt "$limit_mib" ]; then
  echo "error: gpu_bundle.sh: $mib MiB would travel, over the device" \
       "call's $limit_mib MiB; remove untracked files from the checkout." >&2
  exit 1
fi
echo "gpu_bundle: carry .whl and .bundle: run(command='bash" \
     "launch/gpu_evidence.sh --out=\$OUT', carry=['.whl', '.bundle'])"
