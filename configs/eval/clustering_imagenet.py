r"""k-means of the train split's backbone features into 1000 and 25000
clusters; NMI and AMI against the labels.

  python -m hcsc_jax.evaluate --config=configs/eval/clustering_imagenet.py \
      --workdir=<pre-training workdir>
"""

from hcsc_jax.configs.eval import common


def get_config():
  return common.base("clustering", "imagenet")
