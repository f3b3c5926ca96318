r"""Weighted kNN (k in 5/10/20, T=0.07) of backbone features on a labelled
image folder run: its held-out images against its training images (the
folder, labels and split come from the run's config.json).

  python -m hcsc_jax.evaluate --config=configs/eval/knn_image_folder.py \
      --workdir=<folder run> [--config.label_fraction=0.1]
"""

from hcsc_jax.configs.eval import common


def get_config():
  c = common.base("knn", "image_folder")
  c.knn.ks = (5, 10, 20)
  return c
