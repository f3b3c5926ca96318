r"""k-means of Fashion-MNIST's test-split backbone features into 10, 100
and 1000 clusters (10 = the number of classes); NMI and AMI.

  python -m hcsc_jax.evaluate \
      --config=configs/eval/clustering_fashion_mnist.py \
      --workdir=workdirs/fashion_mnist
"""

from hcsc_jax.configs.eval import common


def get_config():
  c = common.base("clustering", "fashion_mnist")
  c.clustering.num_clusters = (10, 100, 1000)
  c.clustering.split = "eval"  # the run's data.eval_split
  c.clustering.nredo = 3
  return c
