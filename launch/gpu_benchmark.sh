#!/usr/bin/env bash
# The benchmark suite on one GPU host that has jax (CUDA), flax, optax, orbax
# and chex but neither TensorFlow nor faiss: `bash launch/gpu_bundle.sh` here
# gathers the wheels and data it lacks (carry .whl and .bundle).
# Results: one `name=value unit` line each, and JSON files in $OUT (or .).
# Budget: under 8 minutes on one H100.
set -uo pipefail  # one failing part must not hide the others
cd "$(dirname "$0")/.."
source launch/gpu_host.sh  # wheels from .whl/, the idx folder
out="${OUT:-.}"
"$python" -c 'import jax; print("devices:", jax.devices(), "jax", jax.__version__)'
nvidia-smi -L || true
bench() { echo "== $*"; "$python" -m hcsc_jax.benchmark "$@" || echo "FAILED: $*"; }
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
# idx files found by gpu_host.sh): train steps/s
# fed from device arrays vs a fixed batch, embedding and kNN seconds.
bench --parts=paths --paths=device --config=configs/fashion_mnist_long.py \
  --steps=50 --manual_dir="$fashion_mnist_dir" \
  --output="$out/paths_device_long.json"
