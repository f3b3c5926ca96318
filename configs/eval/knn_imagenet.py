r"""Weighted kNN (k in 10/20/100/200, T=0.07) of backbone features: the
eval split against the train split.

  python -m hcsc_jax.evaluate --config=configs/eval/knn_imagenet.py \
      --workdir=<pre-training workdir>
"""

from hcsc_jax.configs.eval import common


def get_config():
  return common.base("knn", "imagenet")
