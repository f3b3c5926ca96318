r"""MoCo v2 on Fashion-MNIST: the baseline twin of configs/fashion_mnist.py
(same encoder, budget and augmentation; no clustering, plain InfoNCE).

  python -m hcsc_jax.main --config=configs/fashion_mnist_mocov2.py \
      --workdir=workdirs/fashion_mnist_mocov2

Slightly cheaper than HCSC (no per-epoch embedding and clustering).
Variants: `:smoke`.
"""

from hcsc_jax.configs import fashion_mnist
from hcsc_jax.configs import hcsc_r50_imagenet


def get_config(arg=None):
  return hcsc_r50_imagenet.mocov2(fashion_mnist.get_config(arg))
