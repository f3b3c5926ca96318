#!/usr/bin/env bash
# The benchmark suite on one GPU host that has jax (CUDA), flax, optax, orbax
# and chex but neither TensorFlow nor faiss. Small pure-Python wheels the
# benchmark needs (ml-collections) may be carried in .whl/:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       -d .whl ml_collections==1.1.0
# Results: one `name=value unit` line each, and JSON files in $OUT (or .).
# Budget: under 8 minutes on one H100.
set -uo pipefail  # one failing part must not hide the others
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/hcsc_site .whl/*.whl
  export PYTHONPATH="/tmp/hcsc_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out="${OUT:-.}"
python3 -c 'import jax; print("devices:", jax.devices(), "jax", jax.__version__)'
nvidia-smi -L || true
bench() { echo "== $*"; python3 -m hcsc_jax.benchmark "$@" || echo "FAILED: $*"; }
# Full step, bf16, ResNet-50 224 px, batch 256 (also fed from host NumPy
# with and without device prefetch); then the before/after pairs.
bench --parts=step --dtype=bfloat16 --steps=20 --output="$out/step_bf16.json"
bench --parts=step --dtype=bfloat16 --steps=20 --device_augment \
  --output="$out/step_bf16_device_augment.json"
bench --parts=step --dtype=bfloat16 --steps=10 --no_donate \
  --output="$out/step_bf16_no_donate.json"
bench --parts=hcsc_head --steps=20 --output="$out/hcsc_head.json"
bench --parts=hcsc_head --steps=10 --no_cache \
  --output="$out/hcsc_head_no_cache.json"
# k-means on the accelerator (no faiss on this host).
bench --parts=cluster --cluster_backends=jax --cluster_sizes=100000,1281167 \
  --output="$out/cluster_jax.json"
# The in-memory device input path on the GPU study's config (Fashion-MNIST
# idx files: Debian's location, or HCSC_FASHION_MNIST_DIR): train steps/s
# fed from device arrays vs a fixed batch, embedding and kNN seconds.
bench --parts=paths --paths=device --config=configs/fashion_mnist_long.py \
  --steps=50 ${HCSC_FASHION_MNIST_DIR:+--manual_dir="$HCSC_FASHION_MNIST_DIR"} \
  --output="$out/paths_device_long.json"
