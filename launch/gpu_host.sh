# Sourced by the GPU launchers (gpu_evidence.sh, gpu_study.sh,
# gpu_benchmark.sh): makes a bare GPU host ready to run the project. Such a
# host has jax (CUDA), flax, optax, orbax, absl and tqdm but neither
# ml_collections nor clu, TensorFlow, faiss or the data; what
# `bash launch/gpu_bundle.sh` gathered travels with the checkout:
#   .whl/                     pure-Python wheels, installed where this
#                             Python lacks ml_collections or clu
#   .bundle/fashion-mnist/    the four Fashion-MNIST idx files
# Sets: python (the interpreter to use) and fashion_mnist_dir (the idx
# folder: $HCSC_FASHION_MNIST_DIR, else .bundle/fashion-mnist, else
# Debian's /usr/share/datasets/fashion-mnist).

python="${HCSC_PYTHON:-python3}"
if [ -z "${HCSC_PYTHON:-}" ] && [ -x .venv/bin/python ]; then
  python=.venv/bin/python
fi
if compgen -G ".whl/*.whl" >/dev/null \
    && ! "$python" -c 'import ml_collections, clu' 2>/dev/null; then
  hcsc_site="${HCSC_SITE:-/tmp/hcsc_site}"
  if ! "$python" -m pip install -q --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --target "$hcsc_site" .whl/*.whl; then
    echo "error: could not install the wheels in .whl/ (see pip's message" \
         "above); remake them with bash launch/gpu_bundle.sh." >&2
    exit 2
  fi
  export PYTHONPATH="$hcsc_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -n "${HCSC_FASHION_MNIST_DIR:-}" ]; then
  fashion_mnist_dir="$HCSC_FASHION_MNIST_DIR"
elif [ -d .bundle/fashion-mnist ]; then
  fashion_mnist_dir="$PWD/.bundle/fashion-mnist"
else
  fashion_mnist_dir=/usr/share/datasets/fashion-mnist
fi
